package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tursync/tursync/export"
	"github.com/tursync/tursync/internal/duckdbtest"
	"github.com/tursync/tursync/internal/pgtest"
	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/internal/testport"
	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/storage"
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
	// Every run but the dry one is in export_runs; the failed one with its
	// class (a webhook's export.failed).
	if got := queryString(t, filepath.Join(dir, "m.db"), `SELECT group_concat(status || ':' || coalesce(error_class, '') || ':' || trigger, ',') FROM export_runs`); got != "ok::manual,ok::manual,failed:network:manual" {
		t.Errorf("export_runs: %s", got)
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

// A daemon with a scheduled export keeps PostgreSQL equal to the mirror
// through its first pass, churn, a SIGKILL and a restart, and shows the
// export in /status and the metrics.
func TestDaemonExportsToPostgres(t *testing.T) {
	t.Parallel() // mostly waits on its daemon: it runs beside the others
	dir := t.TempDir()
	mirror := filepath.Join(dir, "m.db")
	daemonExports(t, dir, "file:"+mirror, syscall.SIGKILL, func(q string) string { return queryString(t, mirror, q) })
}

// The same with the mirror on a real sqld, stopped by SIGTERM: a writer
// SIGKILLed in the middle of a commit leaves sqld's write lock held until
// sqld expires the abandoned transaction, which can outlast this test's
// waits on a loaded machine (TestScaleOut SIGKILLs daemons of a sqld
// mirror and waits for that).
func TestDaemonExportsFromSqld(t *testing.T) {
	t.Parallel()
	srv := sqldtest.Start(t, sqldtest.Options{})
	read := testmirror.OpenURL(t, srv.URL, storage.Options{}).Store.DB()
	daemonExports(t, t.TempDir(), srv.URL, syscall.SIGTERM, func(q string) string {
		var s string
		if err := read.QueryRow(q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// daemonExports runs the daemon on a mirror (its URL, and a query of one
// text value on it) with a PostgreSQL export and a Parquet one, and stops
// it with stop as an export starts.
func daemonExports(t *testing.T, dir, mirrorURL string, stop syscall.Signal, mirrorValue func(q string) string) {
	pg := pgtest.Start(t)
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Small, Token: cmdToken})
	cfg := daemonConfig{mirror: mirrorURL, api: apiURL, listen: testport.Addr(t), schedule: "@every 2s", shutdownTimeout: "30s", accounts: []string{"acme"}}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg.write(t, cfgPath)
	lake := filepath.Join(dir, "lake")
	appendConfig(t, cfgPath, "exports:\n  - id: wh\n    to: \""+pg.URL+"\"\n    schedule: \"@every 1s\"\n"+
		"  - id: lake\n    to: \"parquet:"+lake+"\"\n    tables: [databases]\n    schedule: \"@every 1s\"\n")
	conn := pg.Conn(t)
	// What both sides hold of databases and role assignments, as text.
	const shape = `SELECT count(*) || ':' || coalesce(sum(length(name)), 0) || ':' || count(deleted_at) || ':' || sum(CASE WHEN block_reads THEN 1 ELSE 0 END) FROM databases`
	const roles = `SELECT count(*) || ':' || sum(CASE WHEN role_id = 'viewer' THEN 1 ELSE 0 END) || ':' || count(deleted_at) FROM role_assignments`
	equal := func(what string) {
		t.Helper()
		testwait.UntilSays(t, "PostgreSQL to equal the mirror "+what, func() (bool, string) {
			var pgDB, pgRoles string
			if err := conn.QueryRow(context.Background(), shape).Scan(&pgDB); err != nil {
				return false, err.Error()
			}
			if err := conn.QueryRow(context.Background(), roles).Scan(&pgRoles); err != nil {
				return false, err.Error()
			}
			m := mirrorValue(shape) + " " + mirrorValue(roles)
			return pgDB+" "+pgRoles == m, "target " + pgDB + " " + pgRoles + ", mirror " + m
		})
	}
	// blocked is how many live databases block reads in the simulator.
	blocked := func() string {
		n := 0
		for _, org := range sim.Orgs() {
			for _, d := range sim.Databases(org) {
				if d.BlockReads {
					n++
				}
			}
		}
		return fmt.Sprint(n)
	}
	const mirrorBlocked = `SELECT CAST(count(*) AS TEXT) FROM databases WHERE deleted_at IS NULL AND block_reads`
	// passed waits for a pass that started after the simulator changed,
	// and checks the mirror then holds what the simulator does.
	passed := func() {
		t.Helper()
		last := mirrorValue(`SELECT CAST(coalesce(max(id), 0) AS TEXT) FROM sync_runs`)
		testwait.UntilSays(t, "a pass that started after the change to finish", func() (bool, string) {
			s := mirrorValue(`SELECT coalesce(group_concat(id || ' ' || status), 'none') FROM sync_runs WHERE id > ` + last)
			return strings.Contains(s, " complete"), s
		})
		if got, want := mirrorValue(mirrorBlocked), blocked(); got != want {
			t.Fatalf("after a pass the mirror has %s databases blocking reads, the simulator %s", got, want)
		}
	}
	env := []string{"ACME_TOKEN=" + cmdToken}
	p := startTursync(t, env, "run", "--config", cfgPath)
	p.waitLog("account pass")
	passed()
	equal("after the first pass")

	sim.Churn(0.3)
	sim.ChurnMembers(0.3)
	passed()
	equal("after churn")
	_, body := httpGet("http://" + cfg.listen + "/status")
	var status struct {
		Exports []struct {
			Export        string
			LastSuccessAt *string `json:"last_success_at"`
		}
	}
	if err := json.Unmarshal([]byte(body), &status); err != nil || len(status.Exports) != 2 || status.Exports[1].Export != "wh" || status.Exports[1].LastSuccessAt == nil {
		t.Errorf("/status: %+v (%v)", status, err)
	}
	if _, page := httpGet("http://" + cfg.listen + "/"); !strings.Contains(page, `<tr data-export="wh">`) {
		t.Errorf("the status page has no row of export wh")
	}
	_, exposition := httpGet("http://" + cfg.listen + "/metrics")
	if !strings.Contains(exposition, `tursync_export_up{export="wh"} 1`) || !strings.Contains(exposition, `tursync_export_rows_total{export="wh",table="databases"}`) {
		t.Errorf("metrics: %s", grepLines(exposition, "tursync_export_"))
	}

	// Stopped as an export starts on what a pass just wrote.
	sim.Churn(0.3)
	passed()
	p.waitLog("export started")
	p.signal(stop)
	p.wait()
	p = startTursync(t, env, "run", "--config", cfgPath)
	passed()
	equal("after " + stop.String() + " and a restart")
	// Every table the export carries holds as many rows as the mirror's.
	for _, table := range export.Tables() {
		q := `SELECT count(*) FROM "` + table + `"`
		testwait.UntilSays(t, table+" to hold the mirror's rows", func() (bool, string) {
			var n int
			if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
				return false, err.Error()
			}
			want := mirrorValue(`SELECT CAST(count(*) AS TEXT) FROM "` + table + `"`)
			return fmt.Sprint(n) == want, fmt.Sprintf("target %d, mirror %s", n, want)
		})
	}
	t.Run("parquet", func(t *testing.T) {
		// DuckDB reads the Parquet export's newest version of each
		// database as the mirror has it.
		want := mirrorValue(`SELECT count(*) || ':' || sum(block_reads) || ':' || count(deleted_at) FROM databases`)
		q := `SELECT count(*) || ':' || sum(CAST(block_reads AS INTEGER)) || ':' || count(deleted_at) FROM (SELECT *, row_number() OVER
			(PARTITION BY account_id, organization_id, id ORDER BY _seq DESC) AS rn FROM read_parquet('` + lake + `/databases/*.parquet')) WHERE rn = 1`
		testwait.UntilSays(t, "DuckDB to read the mirror's databases", func() (bool, string) {
			got := fmt.Sprint(duckdbtest.Query(t, q)[0][0][0])
			return got == want, "duckdb " + got + ", mirror " + want
		})
	})
	p.signal(syscall.SIGTERM)
	p.wait()
}

// queryString runs a query of one text value on the mirror file.
func queryString(t *testing.T, mirror, q string) string {
	t.Helper()
	var s string
	readMirror(t, mirror, func(db *sql.DB) {
		if err := db.QueryRow(q).Scan(&s); err != nil {
			t.Fatal(err)
		}
	})
	return s
}
