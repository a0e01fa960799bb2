package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tursync/tursync/turso/tursotest"
)

// errorDoc is the document --output json prints for an error.
type errorDoc struct {
	Error *struct {
		ExitCode int `json:"exit_code"`
		Problems []struct {
			Key     string `json:"key"`
			Line    int    `json:"line"`
			Message string `json:"message"`
			Hint    string `json:"hint"`
		} `json:"problems"`
	} `json:"error"`
}

// oneDocument decodes stdout as exactly one JSON document.
func oneDocument(t *testing.T, what, stdout string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: stdout is not a JSON document: %v\n%s", what, err, stdout)
	}
	if dec.More() {
		t.Fatalf("%s: stdout holds more than one document:\n%s", what, stdout)
	}
}

// Every command that prints a result prints it as one JSON document
// under --output json, and an error is one document too, with the exit
// code and the config problems one by one.
func TestEveryCommandSpeaksJSON(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 2, Databases: 2}, Token: cmdToken})
	dir := t.TempDir()
	cfg := writeConfig(t, "file:"+filepath.Join(dir, "m.db"), url)
	env := map[string]string{"ACME_TOKEN": cmdToken}
	if r := runMain(t, env, "sync", "--config", cfg); r.code != 0 {
		t.Fatalf("sync: %d %s", r.code, r.stderr)
	}

	var version map[string]string
	r := runMain(t, env, "version", "--output", "json")
	oneDocument(t, "version", r.stdout, &version)
	if r.code != 0 || version["version"] == "" || version["go"] == "" || version["commit"] == "" {
		t.Errorf("version: %d %v", r.code, version)
	}

	var migrations struct {
		Migrations []struct {
			Version int64 `json:"version"`
			Applied bool  `json:"applied"`
		} `json:"migrations"`
	}
	r = runMain(t, env, "migrate", "--config", cfg, "--status", "--output", "json")
	oneDocument(t, "migrate --status", r.stdout, &migrations)
	if r.code != 0 || len(migrations.Migrations) < 11 || !migrations.Migrations[0].Applied {
		t.Errorf("migrate --status: %d %+v", r.code, migrations)
	}

	var hooks struct {
		Webhooks []any `json:"webhooks"`
	}
	r = runMain(t, env, "webhooks", "list", "--config", cfg, "--output", "json")
	oneDocument(t, "webhooks list", r.stdout, &hooks)
	if r.code != 0 || hooks.Webhooks == nil {
		t.Errorf("webhooks list: %d %s", r.code, r.stdout)
	}

	// A prune listing without --yes: the rows, and exit 2.
	gone := strings.Replace(mustRead(t, cfg), "id: acme", "id: beta", 1)
	goneCfg := filepath.Join(dir, "gone.yaml")
	if err := os.WriteFile(goneCfg, []byte(gone), 0o600); err != nil {
		t.Fatal(err)
	}
	var pruned struct {
		Account string           `json:"account"`
		Removed bool             `json:"removed"`
		Rows    map[string]int64 `json:"rows"`
		Confirm string           `json:"confirm"`
	}
	r = runMain(t, env, "prune", "--config", goneCfg, "--account", "acme", "--output", "json")
	oneDocument(t, "prune listing", r.stdout, &pruned)
	if r.code != 2 || pruned.Account != "acme" || pruned.Removed || pruned.Rows["databases"] != 2 || pruned.Confirm == "" {
		t.Errorf("prune listing: %d %+v", r.code, pruned)
	}

	// Errors: a config with two problems, a usage error, a missing file.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("mirror: {url: \"file:x.db\"}\napi: {request_per_second: 3}\naccounts:\n  - id: a\n    token_env: T\n    schedule: \"@every 1s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		keys []string
	}{
		{"sync, config problems", []string{"sync", "--config", bad, "--output", "json"}, []string{"api.request_per_second", "accounts[0].schedule"}},
		{"check, config problems", []string{"check", "--output=json", "--config", bad}, []string{"api.request_per_second", "accounts[0].schedule"}},
		{"extract, a bad flag", []string{"extract", "--output", "json", "--bogus"}, []string{""}},
		{"prune, no config", []string{"prune", "--output", "json"}, []string{""}},
		{"webhooks list, missing file", []string{"webhooks", "list", "--output", "json", "--config", filepath.Join(dir, "none.yaml")}, []string{""}},
	} {
		r := runMain(t, map[string]string{"T": "x"}, c.args...)
		var doc errorDoc
		oneDocument(t, c.name, r.stdout, &doc)
		if r.code != 2 || doc.Error == nil || doc.Error.ExitCode != 2 || len(doc.Error.Problems) != len(c.keys) {
			t.Errorf("%s: exit %d, %s", c.name, r.code, r.stdout)
			continue
		}
		for i, k := range c.keys {
			p := doc.Error.Problems[i]
			if p.Key != k || p.Message == "" || k != "" && p.Line == 0 {
				t.Errorf("%s: problem %d %+v, want key %q with its line", c.name, i, p, k)
			}
		}
		if c.keys[0] == "api.request_per_second" && doc.Error.Problems[0].Hint != `did you mean "requests_per_second"?` {
			t.Errorf("%s: hint %q", c.name, doc.Error.Problems[0].Hint)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Each command's -h lists its own flags, marks the required ones and
// lists its exit codes; help CMD says the same; --version works; an
// unknown command or subcommand is named as such.
func TestHelpFitsTheCommand(t *testing.T) {
	r := runMain(t, nil, "webhooks", "list", "-h")
	if r.code != 0 || strings.Contains(r.stderr, "-from") || strings.Contains(r.stderr, "-endpoint") || !strings.Contains(r.stderr, "-output") ||
		!strings.Contains(r.stderr, "(required) config file") || !strings.Contains(r.stderr, "Exit codes:") {
		t.Errorf("webhooks list -h: exit %d\n%s", r.code, r.stderr)
	}
	r = runMain(t, nil, "webhooks", "replay", "-h")
	if r.code != 0 || !strings.Contains(r.stderr, "(required) the first change event id") || !strings.Contains(r.stderr, "(required) the webhook id") {
		t.Errorf("webhooks replay -h: exit %d\n%s", r.code, r.stderr)
	}
	r = runMain(t, nil, "webhooks", "bogus")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown subcommand "bogus"`) || strings.Contains(r.stderr, "--config is required") {
		t.Errorf("webhooks bogus: exit %d\n%s", r.code, r.stderr)
	}
	r = runMain(t, nil, "help", "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage: tursync sync") || !strings.Contains(r.stdout, "-dry-run") ||
		!strings.Contains(r.stdout, "130, 143") || strings.Contains(r.stdout, "Commands:") {
		t.Errorf("help sync: exit %d\n%s", r.code, r.stdout)
	}
	r = runMain(t, nil, "help", "webhooks", "test")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage: tursync webhooks test") {
		t.Errorf("help webhooks test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runMain(t, nil, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "tursync ") {
		t.Errorf("--version: exit %d %s", r.code, r.stdout)
	}
	r = runMain(t, nil, "frobnicate")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d %s", r.code, r.stderr)
	}
	for _, cmd := range []string{"demo", "run", "sync", "extract", "migrate", "check", "simulate", "prune", "schema", "version"} {
		r := runMain(t, nil, cmd, "-h")
		if r.code != 0 || !strings.Contains(r.stderr, "Usage: tursync "+cmd) || !strings.Contains(r.stderr, "Exit codes:\n  0  ") {
			t.Errorf("%s -h: exit %d\n%s", cmd, r.code, r.stderr)
		}
	}
}

// `tursync schema` prints the data dictionary without a config or a
// mirror: the list, one table's columns with their values, and a usage
// error for a name it does not know.
func TestSchemaCommand(t *testing.T) {
	r := runMain(t, nil, "schema")
	if r.code != 0 || !strings.Contains(r.stdout, "access_review") || strings.Contains(r.stdout, "stage_databases") {
		t.Errorf("schema: exit %d, want the analysts' tables and no stage table:\n%s", r.code, r.stdout)
	}
	if r := runMain(t, nil, "schema", "--internal"); !strings.Contains(r.stdout, "stage_databases") {
		t.Errorf("schema --internal lacks the stage tables:\n%s", r.stdout)
	}
	r = runMain(t, nil, "schema", "role_assignments", "--output", "json")
	var doc struct {
		Name    string `json:"name"`
		Columns []struct {
			Name   string `json:"name"`
			Values []struct {
				Value, Meaning string
			} `json:"values"`
		} `json:"columns"`
	}
	oneDocument(t, "schema role_assignments", r.stdout, &doc)
	values := map[string]int{}
	for _, c := range doc.Columns {
		values[c.Name] = len(c.Values)
	}
	if r.code != 0 || doc.Name != "role_assignments" || values["status"] != 2 || values["source"] != 2 || values["deleted_reason"] < 5 {
		t.Errorf("schema role_assignments: exit %d, %s with enumerations %v", r.code, doc.Name, values)
	}
	if r := runMain(t, nil, "schema", "nope"); r.code != 2 || !strings.Contains(r.stderr, `no table or view "nope"`) {
		t.Errorf("schema nope: exit %d %s", r.code, r.stderr)
	}
}
