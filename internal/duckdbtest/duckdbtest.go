// Package duckdbtest runs SQL in a real DuckDB (its Node.js client,
// @duckdb/node-api from npm) for tests that check files DuckDB must read.
// Tests skip where node or the client is missing, except in CI, which
// sets RequireEnv.
package duckdbtest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// RequireEnv, set to 1, turns a missing DuckDB into a test failure.
const RequireEnv = "TURSYNC_REQUIRE_DUCKDB"

// ModulesEnv names the node_modules directory that holds @duckdb/node-api
// (scripts/install-duckdb.sh prints it).
const ModulesEnv = "TURSYNC_DUCKDB"

// Query runs the statements in one DuckDB and returns each one's rows,
// values as JSON decodes them (BigInts and other objects as strings).
func Query(t testing.TB, statements ...string) [][][]any {
	t.Helper()
	modules := os.Getenv(ModulesEnv)
	node, err := exec.LookPath("node")
	if modules == "" || err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("DuckDB is required (%s=1) but node or %s is missing: export %s=$(./scripts/install-duckdb.sh)", RequireEnv, ModulesEnv, ModulesEnv)
		}
		t.Skipf("DuckDB's Node.js client not installed (export %s=$(./scripts/install-duckdb.sh)); skipping", ModulesEnv)
	}
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command(node, append([]string{filepath.Join(filepath.Dir(file), "query.js")}, statements...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("duckdb: %v\n%s", err, stderr.String())
	}
	var out [][][]any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var rows [][]any
		if err := json.Unmarshal([]byte(line), &rows); err != nil {
			t.Fatalf("duckdb's answer %q: %v", line, err)
		}
		out = append(out, rows)
	}
	return out
}
