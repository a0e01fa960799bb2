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
	"time"

	"github.com/tursync/tursync/daemon"

	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/internal/testport"
	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso/tursotest"
)

// jwtPrefix starts every token the test bed mints.
const jwtPrefix = "eyJhbGciOiJFZERTQSI"

// extractBed starts the test bed of README "Cross-tenant extraction by
// hand": a sqld with a namespace per simulated database and the simulator
// minting its tokens; it returns the simulator and a config whose query
// reads every tenant's orders.
func extractBed(t *testing.T, schedule string) (*tursotest.Server, string, string, string) {
	t.Helper()
	srv := sqldtest.Start(t, sqldtest.Options{Auth: true, Namespaces: true})
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 4, Token: cmdToken,
		Size:    tursotest.Size{Orgs: 2, Members: 3, Databases: 5, Groups: 2},
		Tenants: &tursotest.TenantBed{SQLD: srv.URL, Admin: srv.Admin, Key: srv.Key()}})
	dir := t.TempDir()
	mirror := filepath.Join(dir, "m.db")
	listen := testport.Addr(t)
	y := fmt.Sprintf(`mirror: {url: "file:%s"}
api: {base_url: %q, requests_per_second: 1000, max_retries: 0}
http: {listen: %q}
log: {level: debug, format: json}
sync: {lease_ttl: 5s, min_interval: 1s}
defaults: {schedule: "@every 1h"}
accounts:
  - id: acme
    token_env: ACME_TOKEN
extract:
  database_url: "http://{hostname}"
  proxy: %q
  queries:
    - name: orders_daily
      sql: "select date(created_at) as day, count(*) as orders, sum(total) as revenue from orders group by 1"
      schedule: %q
`, mirror, apiURL, listen, srv.URL, schedule)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, path, mirror, listen
}

// tenantOrders is how many orders the view says every tenant holds.
func viewOrders(t *testing.T, mirror string) (int64, int64) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+mirror+readOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var orders, dbs int64
	if err := db.QueryRow(`select coalesce(sum(orders), 0), count(distinct database_id) from extract_orders_daily`).Scan(&orders, &dbs); err != nil {
		t.Fatal(err)
	}
	return orders, dbs
}

func TestExtractCommand(t *testing.T) {
	sim, cfg, mirror, _ := extractBed(t, "@every 1h")
	envs := map[string]string{"ACME_TOKEN": cmdToken}
	if r := runMain(t, envs, "sync", "--config", cfg); r.code != 0 {
		t.Fatalf("sync: %d %s", r.code, r.stderr)
	}
	total := len(sim.Databases("org1")) + len(sim.Databases("org2"))
	r := runMain(t, envs, "extract", "--config", cfg, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("orders_daily: would query %d databases, skip 0", total)) || sim.Mints() != 0 {
		t.Fatalf("dry run: %d mints, exit %d\n%s%s", sim.Mints(), r.code, r.stdout, r.stderr)
	}
	r = runMain(t, envs, "extract", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("orders_daily: %d ok, 0 failed, 0 skipped", total)) {
		t.Fatalf("extract: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, jwtPrefix) {
		t.Error("a token was printed")
	}
	if _, dbs := viewOrders(t, mirror); dbs != int64(total) {
		t.Errorf("the view holds %d databases; want %d", dbs, total)
	}
	r = runMain(t, envs, "extract", "--config", cfg, "--account", "acme", "--query", "orders_daily")
	if r.code != 0 {
		t.Errorf("--account and --query: exit %d %s", r.code, r.stderr)
	}
	if r = runMain(t, envs, "extract", "--config", cfg, "--query", "nope"); r.code != 2 || !strings.Contains(r.stderr, `--query "nope" is not in extract.queries`) {
		t.Errorf("unknown query: exit %d %s", r.code, r.stderr)
	}
	// A tenant whose table is gone fails alone, and the command says so.
	d := sim.Databases("org1")[0]
	bed := sim.TenantBed()
	if err := bed.Exec(context.Background(), tursotest.Namespace(d.Hostname), "DROP TABLE orders"); err != nil {
		t.Fatal(err)
	}
	r = runMain(t, envs, "extract", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stdout, fmt.Sprintf("%d ok, 1 failed", total-1)) || !strings.Contains(r.stdout, "sql 1") {
		t.Errorf("one broken tenant: exit %d\n%s", r.code, r.stdout)
	}
	// Another process running the query holds its lease: the one-shot run
	// says who, and runs nothing.
	st, err := storage.Open(context.Background(), "file:"+mirror, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lease, err := st.AcquireLease(context.Background(), "extract:orders_daily", "other-daemon", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r = runMain(t, envs, "extract", "--config", cfg); r.code != 1 || !strings.Contains(r.stderr, "another process (other-daemon) runs it now") {
		t.Errorf("lease held elsewhere: exit %d %s", r.code, r.stderr)
	}
	if err := st.ReleaseLease(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// A query taken out of the config is pruned with its view.
	if r = runMain(t, envs, "prune", "--config", cfg, "--query", "orders_daily"); r.code != 2 || !strings.Contains(r.stderr, "still in the config") {
		t.Errorf("prune of a configured query: exit %d %s", r.code, r.stderr)
	}
	data, _ := os.ReadFile(cfg)
	without := cfg + ".without"
	if err := os.WriteFile(without, []byte(strings.Split(string(data), "  queries:")[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	if r = runMain(t, envs, "prune", "--config", without, "--query", "orders_daily"); r.code != 2 || !strings.Contains(r.stdout, "extract_results") {
		t.Errorf("prune without --yes: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r = runMain(t, envs, "prune", "--config", without, "--query", "orders_daily", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "removed query orders_daily") {
		t.Errorf("prune --yes: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	db, err := sql.Open("sqlite", "file:"+mirror+readOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left int
	if err := db.QueryRow(`select (select count(*) from extract_results) + (select count(*) from extract_status) + (select count(*) from sqlite_master where name = 'extract_orders_daily')`).Scan(&left); err != nil || left != 0 {
		t.Errorf("after prune: %d rows or views left (%v)", left, err)
	}
}

func TestDaemonRunsExtractionOnSchedule(t *testing.T) {
	sim, cfg, mirror, listen := extractBed(t, "@every 2s")
	p := startTursync(t, []string{"ACME_TOKEN=" + cmdToken}, "run", "--config", cfg)
	total := len(sim.Databases("org1")) + len(sim.Databases("org2"))
	var st daemon.Status
	testwait.UntilSays(t, "two scheduled extractions over every tenant", func() (bool, string) {
		code, body := httpGet("http://" + listen + "/status")
		if code != 200 || json.Unmarshal([]byte(body), &st) != nil || len(st.Extracts) != 1 || st.Extracts[0].LastRun == nil {
			return false, body
		}
		lr := st.Extracts[0].LastRun
		return lr.RunID >= 2 && lr.Status == "ok" && lr.OK == total, body
	})
	if st.Extracts[0].Query != "orders_daily" || st.Extracts[0].NextRun == nil {
		t.Errorf("/status extract: %+v", st.Extracts[0])
	}
	_, m := httpGet("http://" + listen + "/metrics")
	for _, want := range []string{`tursync_extract_databases_total{query="orders_daily",status="ok"}`,
		`tursync_extract_last_success_timestamp_seconds{query="orders_daily"}`, `tursync_extract_failed_share{query="orders_daily"} 0`,
		`tursync_extract_alert_failed_share 0.1`, `tursync_extract_rows_total{query="orders_daily"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if _, page := httpGet("http://" + listen + "/"); !strings.Contains(page, `<tr data-query="orders_daily">`) || !strings.Contains(page, fmt.Sprintf("%d / 0 / 0", total)) {
		t.Errorf("the status page lacks the query's last run:\n%s", page)
	}
	// A query added by a reload is scheduled, and reuses the tokens.
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	added := string(data) + "    - name: events_count\n      sql: \"select kind, count(*) as n from events group by kind\"\n      schedule: \"@every 2s\"\n"
	if err := os.WriteFile(cfg, []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	testwait.UntilSays(t, "the reloaded query's run", func() (bool, string) {
		code, body := httpGet("http://" + listen + "/status")
		if code != 200 || json.Unmarshal([]byte(body), &st) != nil || len(st.Extracts) != 2 {
			return false, body
		}
		lr := st.Extracts[0].LastRun // events_count sorts first
		return st.Extracts[0].Query == "events_count" && lr != nil && lr.Status == "ok" && lr.OK == total, body
	})
	p.signal(syscall.SIGTERM)
	p.wait()
	if _, dbs := viewOrders(t, mirror); dbs != int64(total) {
		t.Errorf("the view holds %d databases; want %d", dbs, total)
	}
	if strings.Contains(p.log()+m, jwtPrefix) {
		t.Error("a token is in the daemon's logs or metrics")
	}
	// One token per (org, group) over every run of both queries: the TTL
	// is an hour and the reload kept the extractor.
	groups := map[string]bool{}
	for _, org := range []string{"org1", "org2"} {
		for _, d := range sim.Databases(org) {
			groups[org+d.Group] = true
		}
	}
	if sim.Mints() != len(groups) {
		t.Errorf("%d mints for %d groups", sim.Mints(), len(groups))
	}
}
