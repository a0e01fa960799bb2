package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tursync/tursync/internal/pgtest"
	"github.com/tursync/tursync/turso/tursotest"
)

// tursync export runs the configured export: the first run copies every
// table, the next only changes, --dry-run writes nothing; a target that is
// down fails it with exit 1 and a hint; a password in the URL is a config
// error that does not quote it.
func TestExportCommand(t *testing.T) {
	pg := pgtest.Start(t)
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 5, Invites: 2, Databases: 20, Groups: 2, APITokens: 1, AuditEvents: 5}, Token: cmdToken})
	dir := t.TempDir()
	cfg := writeConfig(t, "file:"+filepath.Join(dir, "m.db"), url)
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("unused-by-trust-auth\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	appendConfig(t, cfg, "exports:\n  - id: warehouse\n    to: \""+pg.URL+"\"\n    password_file: "+pwFile+"\n    tables: [\"databases\", \"role_*\", \"users\"]\n")
	env := map[string]string{"ACME_TOKEN": cmdToken}
	if r := runMain(t, env, "sync", "--config", cfg); r.code != 0 {
		t.Fatalf("sync: %d %s", r.code, r.stderr)
	}

	r := runMain(t, env, "export", "--config", cfg, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would write (dry run, rolled back)") {
		t.Fatalf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var n int
	if err := pg.Conn(t).QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE tablename = 'databases'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the dry run left %d tables (%v)", n, err)
	}

	r = runMain(t, env, "export", "--config", cfg, "--output", "json")
	var reps []struct {
		Export string
		Tables []struct {
			Table, Copy, Why string
			Rows             int64
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &reps); r.code != 0 || err != nil || len(reps) != 1 {
		t.Fatalf("export: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	var tables []string
	for _, tr := range reps[0].Tables {
		tables = append(tables, tr.Table)
		if tr.Copy != "full" {
			t.Errorf("first run: %s copied %s", tr.Table, tr.Copy)
		}
	}
	if strings.Join(tables, ",") != "users,databases,role_assignments" {
		t.Errorf("tables %v, want the globs' users, databases, role_assignments", tables)
	}
	if err := pg.Conn(t).QueryRow(context.Background(), `SELECT count(*) FROM databases`).Scan(&n); err != nil || n != 20 {
		t.Errorf("the target holds %d databases (%v), want 20", n, err)
	}
	if r := runMain(t, env, "export", "--config", cfg, "--export", "warehouse"); r.code != 0 || !strings.Contains(r.stdout, "databases          changes 0 rows") {
		t.Errorf("second run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	pg.Stop()
	r = runMain(t, env, "export", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "export warehouse failed") || !strings.Contains(r.stderr, "is PostgreSQL up") {
		t.Errorf("PostgreSQL down: exit %d\n%s", r.code, r.stderr)
	}
	pg.Restart()

	bad := writeConfig(t, "file:"+filepath.Join(dir, "m.db"), url)
	appendConfig(t, bad, "exports:\n  - id: leaky\n    to: \"postgres://u:hunter2@127.0.0.1:1/db\"\n")
	r = runMain(t, env, "export", "--config", bad)
	if r.code != 2 || !strings.Contains(r.stderr, "password_env or password_file") || strings.Contains(r.stderr, "hunter2") {
		t.Errorf("a password in the URL: exit %d\n%s", r.code, r.stderr)
	}
	if r := runMain(t, env, "export", "--config", cfg, "--export", "nope"); r.code != 2 {
		t.Errorf("an unknown export: exit %d", r.code)
	}
}

func appendConfig(t *testing.T, path, yaml string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		t.Fatal(err)
	}
}
