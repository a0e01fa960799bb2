package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testproc"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso/tursotest"
)

const cmdToken = "cmd-SECRET-token-9876543210"

type run struct {
	code           int
	stdout, stderr string
}

func runMain(t *testing.T, environ map[string]string, args ...string) run {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: env(environ), Now: time.Now}
	code := exitCode(m.Run(context.Background(), args), &errb)
	return run{code, out.String(), errb.String()}
}

func writeConfig(t *testing.T, mirrorURL, apiURL string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	y := "mirror: {url: \"" + mirrorURL + "\"}\napi: {base_url: \"" + apiURL + "\", requests_per_second: 1000, max_retries: 0}\n" +
		"log: {level: debug, format: json}\naccounts:\n  - id: acme\n    token_env: ACME_TOKEN\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSyncCommandExitCodes(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 5, Invites: 2, Databases: 20, Groups: 2, APITokens: 1, AuditEvents: 5}, Token: cmdToken})
	dir := t.TempDir()
	mirror := filepath.Join(dir, "m.db")
	cfg := writeConfig(t, "file:"+mirror, url)

	r := runMain(t, map[string]string{"ACME_TOKEN": cmdToken}, "sync", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "account acme run 1: complete") {
		t.Fatalf("sync: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r2 := runMain(t, map[string]string{"ACME_TOKEN": "wrong-token"}, "sync", "--config", cfg)
	if r2.code != 1 || !strings.Contains(r2.stdout, "auth") || !strings.Contains(r2.stdout, "environment variable ACME_TOKEN") {
		t.Errorf("401: exit %d, want 1 naming the token's variable\n%s", r2.code, r2.stdout)
	}
	if !strings.Contains(r2.stderr, `"level":"ERROR","msg":"account pass"`) {
		t.Errorf("a failed pass is not logged at ERROR:\n%s", r2.stderr)
	}
	r3 := runMain(t, map[string]string{}, "sync", "--config", cfg)
	if r3.code != 2 || !strings.Contains(r3.stderr, "ACME_TOKEN") {
		t.Errorf("missing token: exit %d, want 2 naming the env var\n%s", r3.code, r3.stderr)
	}
	r4 := runMain(t, nil, "sync")
	if r4.code != 2 {
		t.Errorf("no --config: exit %d, want 2", r4.code)
	}
	r5 := runMain(t, map[string]string{"ACME_TOKEN": cmdToken}, "sync", "--config", cfg, "--dry-run")
	if r5.code != 0 || !strings.Contains(r5.stdout, "would create 0") {
		t.Errorf("dry run: exit %d\n%s", r5.code, r5.stdout)
	}
	for _, s := range []string{r.stdout, r.stderr, r2.stdout, r2.stderr, r5.stdout, r5.stderr} {
		if strings.Contains(s, cmdToken) {
			t.Fatalf("token leaked into output")
		}
	}
	b, _ := os.ReadFile(mirror)
	if bytes.Contains(b, []byte(cmdToken)) {
		t.Fatal("token leaked into the mirror")
	}
	if st, _ := os.Stat(mirror); st.Mode().Perm() != 0o600 {
		t.Errorf("mirror mode %v, want 0600", st.Mode().Perm())
	}
}

func TestReadOnlyMirrorFailsClearly(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 5, Databases: 5, Groups: 1}})
	mirror := filepath.Join(t.TempDir(), "m.db")
	cfg := writeConfig(t, "file:"+mirror, url)
	if r := runMain(t, map[string]string{"ACME_TOKEN": "t"}, "migrate", "--config", cfg); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	ro := writeConfig(t, "file:"+mirror+"?mode=ro", url)
	r := runMain(t, map[string]string{"ACME_TOKEN": "t"}, "sync", "--config", ro)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "readonly") || !strings.Contains(r.stdout+r.stderr, mirror) ||
		!strings.Contains(r.stdout+r.stderr, "permissions") {
		t.Errorf("read-only mirror: exit %d, want 1 naming the file and what to check\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "run 0") || strings.Contains(r.stdout, "-2562047h") {
		t.Errorf("read-only mirror: a run id or duration that does not exist:\n%s", r.stdout)
	}
}

func TestDemo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	r := runMain(t, nil, "demo", "--db", db)
	if r.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"account demo run 1: complete", "role_assignments", "Access review", "Pending invites", "Databases per group"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	if r := runMain(t, nil, "frobnicate"); r.code != 2 {
		t.Errorf("exit %d, want 2", r.code)
	}
	if r := runMain(t, nil, "sync", "-h"); r.code != 0 || !strings.Contains(r.stderr, "-dry-run") {
		t.Errorf("sync -h: exit %d, want 0 with the flags\n%s", r.code, r.stderr)
	}
	if r := runMain(t, nil, "version"); r.code != 0 || !strings.Contains(r.stdout, "tursync") {
		t.Errorf("version: %d %s", r.code, r.stdout)
	}
}

func TestCheckReportsAccessPerOrg(t *testing.T) {
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 2, Databases: 2, Groups: 1}})
	sim.Inject("/v1/organizations/{organizationSlug}/audit-logs", "", tursotest.Fault{Status: 402})
	sim.Inject("/v2/organizations/{organizationSlug}/invites", "", tursotest.Fault{Status: 403})
	sim.Inject("/v1/organizations/{organizationSlug}/invoices", "", tursotest.Fault{Status: 403})
	cfg := writeConfig(t, "file:"+filepath.Join(t.TempDir(), "m.db"), url)
	r := runMain(t, map[string]string{"ACME_TOKEN": "t"}, "check", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"account acme: token ok", "members ok", "invites unavailable (needs admin or owner)", "audit_logs unavailable (plan)",
		"subscriptions ok", "invoices unavailable (needs admin or owner)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func writeConfigOrgs(t *testing.T, mirrorURL, apiURL, orgs string) string {
	t.Helper()
	p := writeConfig(t, mirrorURL, apiURL)
	b, _ := os.ReadFile(p)
	b = append(b, []byte("    orgs: ["+orgs+"]\n")...)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// check must fail wherever sync would: an org the token cannot see, a
// mirror that takes no writes, an API that does not answer.
func TestCheckFailsWhereSyncWould(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 2, Members: 2, Databases: 2, Groups: 1}})
	dir := t.TempDir()
	env := map[string]string{"ACME_TOKEN": "t"}

	fresh := filepath.Join(dir, "fresh.db")
	r := runMain(t, env, "check", "--config", writeConfig(t, "file:"+fresh, url))
	if r.code != 0 || !strings.Contains(r.stdout, "writable") || !strings.Contains(r.stdout, "config ok: 1 account\n") {
		t.Fatalf("good setup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("check left the mirror file it created behind: %v", err)
	}

	r = runMain(t, env, "check", "--config", writeConfigOrgs(t, "file:"+fresh, url, "Org1, nosuchorg"))
	if r.code != 2 || !strings.Contains(r.stdout, `did you mean "org1"`) || !strings.Contains(r.stdout, "sees 2 orgs: org1, org2") ||
		!strings.Contains(r.stdout, "org nosuchorg: FAILED") || !strings.Contains(r.stderr, `accounts[0].orgs (line 5): the token does not list org "nosuchorg"`) {
		t.Errorf("unknown orgs: exit %d, want 2 (a config error, as in sync) listing the visible orgs\n%s%s", r.code, r.stdout, r.stderr)
	}

	migrated := filepath.Join(dir, "m.db")
	if r := runMain(t, env, "migrate", "--config", writeConfig(t, "file:"+migrated, url)); r.code != 0 {
		t.Fatalf("migrate: %s", r.stderr)
	}
	r = runMain(t, env, "check", "--config", writeConfig(t, "file:"+migrated+"?mode=ro", url))
	if r.code != 1 || !strings.Contains(r.stdout, "cannot be written") || !strings.Contains(r.stdout, migrated) {
		t.Errorf("read-only mirror: exit %d, want 1 naming the file\n%s", r.code, r.stdout)
	}
	r = runMain(t, env, "check", "--config", writeConfig(t, "file:"+filepath.Join(dir, "no", "such", "dir.db"), url))
	if r.code != 1 || !strings.Contains(r.stdout, "mirror") || !strings.Contains(r.stdout, "FAILED") {
		t.Errorf("uncreatable mirror: exit %d, want 1\n%s", r.code, r.stdout)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	r = runMain(t, env, "check", "--config", writeConfig(t, "file:"+fresh, dead))
	if r.code != 1 || !strings.Contains(r.stdout, "Platform API unreachable at "+dead) || strings.Contains(r.stdout, "token refused") {
		t.Errorf("unreachable API: exit %d, want 1 saying so\n%s", r.code, r.stdout)
	}

	r = runMain(t, env, "check", "--output", "json", "--config", writeConfigOrgs(t, "file:"+fresh, url, "Org1"))
	var rep struct {
		OK       bool `json:"ok"`
		Accounts []struct {
			MissingOrgs []struct {
				Org        string `json:"org"`
				DidYouMean string `json:"did_you_mean"`
			} `json:"missing_orgs"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("check --output json: %v\n%s", err, r.stdout)
	}
	if r.code != 2 || rep.OK || len(rep.Accounts) != 1 || len(rep.Accounts[0].MissingOrgs) != 1 || rep.Accounts[0].MissingOrgs[0].DidYouMean != "org1" {
		t.Errorf("check --output json: exit %d, %+v", r.code, rep)
	}
}

// A misspelt org is a usage error found before any request for it, naming
// the orgs the token lists; in the daemon it fails alone, as not_found.
func TestUnknownOrgIsAUsageError(t *testing.T) {
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 2, Members: 2, Databases: 2, Groups: 1}})
	mirror := "file:" + filepath.Join(t.TempDir(), "m.db")
	env := map[string]string{"ACME_TOKEN": "t"}
	for _, tc := range []struct {
		name, cfg string
		args      []string
	}{
		{"--org", writeConfig(t, mirror, url), []string{"--org", "Org1"}},
		{"orgs:", writeConfigOrgs(t, mirror, url, "org2, Org1"), nil},
	} {
		sim.ResetLog()
		r := runMain(t, env, append([]string{"sync", "--config", tc.cfg}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, `org "Org1" is not listed`) || !strings.Contains(r.stderr, `did you mean "org1"`) ||
			!strings.Contains(r.stderr, "it lists: org1, org2") {
			t.Errorf("%s: exit %d, want 2 naming the visible orgs\n%s%s", tc.name, r.code, r.stdout, r.stderr)
		}
		for _, req := range sim.Requests() {
			if req.Org != "" {
				t.Errorf("%s: a request for org %s (%s) was sent", tc.name, req.Org, req.Route)
			}
		}
	}
}

// A repeated demo (the same seed) changes nothing, and a brand-new mirror
// reports creates only.
func TestDemoTwiceChangesNothing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	for i := 0; i < 2; i++ {
		if r := runMain(t, nil, "demo", "--db", db); r.code != 0 {
			t.Fatalf("demo %d: exit %d\n%s", i+1, r.code, r.stderr)
		}
	}
	conn, err := sql.Open("sqlite", "file:"+db+readOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var updated1, updated2, deleted2, created2, events int
	q := func(dst *int, query string) {
		t.Helper()
		if err := conn.QueryRow(query).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	q(&updated1, `SELECT rows_updated + rows_deleted FROM sync_runs WHERE id = 1`)
	q(&updated2, `SELECT rows_updated FROM sync_runs WHERE id = 2`)
	q(&deleted2, `SELECT rows_deleted FROM sync_runs WHERE id = 2`)
	// Audit events count back from the hour: a second demo in the next hour
	// may add the newest ones, which is not a change.
	q(&created2, `SELECT coalesce(sum(rows_created), 0) FROM sync_scopes WHERE run_id = 2 AND resource <> 'audit_logs'`)
	q(&events, `SELECT count(*) FROM change_events`)
	if updated1 != 0 || updated2 != 0 || deleted2 != 0 || created2 != 0 || events != 0 {
		t.Errorf("first run updated+deleted %d; second run updated %d, deleted %d, created %d; change events %d; want all 0",
			updated1, updated2, deleted2, created2, events)
	}
}

// A dry run lists every row it would change, deletes the guard holds
// included, as text and as JSON, and writes nothing.
func TestDryRunListsRows(t *testing.T) {
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 5, Databases: 40, Groups: 1}})
	mirror := filepath.Join(t.TempDir(), "m.db")
	cfg := writeConfig(t, "file:"+mirror, url)
	env := map[string]string{"ACME_TOKEN": "t"}
	if r := runMain(t, env, "sync", "--config", cfg); r.code != 0 {
		t.Fatalf("first sync: %d %s", r.code, r.stdout)
	}
	dbs := sim.Databases("org1")
	for _, d := range dbs[:30] {
		sim.DeleteDatabase("org1", d.Name)
	}
	added := sim.CreateDatabase("org1", "brand-new", "")
	m := sim.Members("org1")[1]
	role := "admin"
	if m.Role == role {
		role = "viewer"
	}
	sim.SetMemberRole("org1", m.Username, role)

	r := runMain(t, env, "sync", "--config", cfg, "--dry-run")
	for _, want := range []string{
		"+ databases org1/" + added.DbID,
		"- databases org1/" + dbs[0].DbID + " (held by the delete guard; --force-deletes applies it)",
		fmt.Sprintf("~ role_assignments org1/%s: role_id %s -> %s", m.Username, m.Role, role),
		"would create 1, update 0, delete 0",
		"delete guard held 30 deletes",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runMain(t, env, "sync", "--config", cfg, "--dry-run", "--output", "json")
	var rep syncReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--output json: %v\n%s", err, r.stdout)
	}
	held := 0
	for _, o := range rep.Accounts[0].Orgs {
		for _, sc := range o.Scopes {
			for _, c := range sc.Changes {
				if c.Op == "deleted" && c.Held {
					held++
				}
			}
		}
	}
	if !rep.DryRun || held != 30 {
		t.Errorf("json dry run: dry_run %v, %d held deletes listed, want 30", rep.DryRun, held)
	}
	// Nothing was written: a real pass still finds every change.
	r = runMain(t, env, "sync", "--config", cfg, "--force-deletes", "--org", "org1")
	if !strings.Contains(r.stdout, "create 1, update 0, delete 30") {
		t.Errorf("the pass after the dry runs:\n%s", r.stdout)
	}
}

// On a pipe, sync logs when each org and resource starts and ends, at info.
func TestSyncLogsProgressOnAPipe(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 2, Members: 3, Databases: 1500, Groups: 1}})
	p := writeConfig(t, "file:"+filepath.Join(t.TempDir(), "m.db"), url)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), "level: debug", "level: info", 1)), 0o600)
	r := runMain(t, map[string]string{"ACME_TOKEN": "t"}, "sync", "--config", p)
	for _, want := range []string{`"level":"INFO","msg":"org started"`, `"msg":"resource started"`,
		`"msg":"resource done","account":"acme","run_id":1,"org":"org2","resource":"databases","status":"complete","pages":2,"rows":1500`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("log lacks %s:\n%s", want, r.stderr)
		}
	}
}

func TestProgressUIPrintsEachResource(t *testing.T) {
	var out bytes.Buffer
	ui := newProgressUI(&out, time.Now)
	p := tsync.Progress{Account: "acme", Org: "org1", OrgIndex: 1, Orgs: 2, Resource: "databases", Expected: 2000, Since: time.Now()}
	ui.event(tsync.ProgressEvent{Kind: tsync.ProgressResourceStart, Progress: p})
	p.Pages, p.Rows = 1, 1000
	ui.event(tsync.ProgressEvent{Kind: tsync.ProgressPage, Progress: p})
	fmt.Fprintln(ui, "a log line")
	p.Pages, p.Rows = 2, 1999
	ui.event(tsync.ProgressEvent{Kind: tsync.ProgressResourceEnd, Status: "complete", Progress: p})
	ui.stop()
	for _, want := range []string{"a log line", "acme org1 databases: complete, 1999 rows in 2 pages"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress output lacks %q:\n%q", want, out.String())
		}
	}
}

func TestMirrorFileMode(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 2, Databases: 2, Groups: 1}})
	mirror := filepath.Join(t.TempDir(), "m.db")
	p := writeConfig(t, "file:"+mirror, url)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), "mirror: {url: \"file:"+mirror+"\"}", "mirror: {url: \"file:"+mirror+"\", file_mode: \"0640\"}", 1)), 0o600)
	if r := runMain(t, map[string]string{"ACME_TOKEN": "t"}, "sync", "--config", p); r.code != 0 {
		t.Fatalf("sync: %d %s%s", r.code, r.stdout, r.stderr)
	}
	if st, err := os.Stat(mirror); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mirror file: %v (%v), want mode 0640", st, err)
	}
	os.WriteFile(p, []byte(strings.Replace(string(b), "mirror: {url: \"file:"+mirror+"\"}", "mirror: {url: \"file:"+mirror+"\", file_mode: \"0666\"}", 1)), 0o600)
	if r := runMain(t, map[string]string{"ACME_TOKEN": "t"}, "check", "--config", p); r.code != 2 || !strings.Contains(r.stderr, "mirror.file_mode") {
		t.Errorf("world-writable file_mode: exit %d, want 2 naming it\n%s", r.code, r.stderr)
	}
}

// A spill file left by a pass that was killed (its process gone) is
// removed when the next sync starts, and the removal is logged.
func TestLeftoverSpillFilesAreCollected(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 2, Databases: 2}, Token: cmdToken})
	cfg := writeConfig(t, "file:"+filepath.Join(t.TempDir(), "m.db"), url)
	ended, _ := testproc.Pids(t)
	dir := storage.SpillDir("")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, fmt.Sprintf("tursync-spill-%d-1234", ended))
	if err := os.WriteFile(leftover, []byte("rows in clear"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runMain(t, map[string]string{"ACME_TOKEN": cmdToken}, "sync", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("sync: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leftover spill file is still there (%v)", err)
	}
	if !strings.Contains(r.stderr, `"msg":"removed spill files left by processes that ended"`) || !strings.Contains(r.stderr, `"files":1`) {
		t.Errorf("the removal is not logged:\n%s", r.stderr)
	}
}

// SIGINT or SIGTERM during `tursync sync`: the run is recorded
// interrupted, no scope is blamed on the network, the summary says which
// orgs were written, and the exit code is 128 plus the signal's number.
func TestInterruptedSync(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{{syscall.SIGINT, "SIGINT", 130}, {syscall.SIGTERM, "SIGTERM", 143}} {
		t.Run(c.name, func(t *testing.T) {
			_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 4, Members: 3, Databases: 3, Groups: 1},
				Token: cmdToken, Latency: 30 * time.Millisecond})
			mirror := filepath.Join(t.TempDir(), "m.db")
			cfg := writeConfig(t, "file:"+mirror, url)
			p := startTursync(t, []string{"ACME_TOKEN=" + cmdToken}, "sync", "--config", cfg)
			p.waitLog("org written")
			p.signal(c.sig)
			if code := p.wait(); code != c.code {
				t.Fatalf("exit code %d, want %d\n%s", code, c.code, p.stdout.String())
			}
			out := p.stdout.String()
			if !strings.Contains(out, "account acme run 1: interrupted") || !strings.Contains(out, "interrupted by "+c.name+": ") || !strings.Contains(out, "orgs written (org1") {
				t.Errorf("summary does not say it was interrupted and what was written:\n%s", out)
			}
			if strings.Contains(out, "[network]") || strings.Contains(out, "context canceled") {
				t.Errorf("summary blames the network or says context canceled:\n%s", out)
			}
			db := openChecked(t, mirror)
			defer db.Close()
			var status, msg string
			if err := db.QueryRow(`SELECT status, error FROM sync_runs WHERE id = 1`).Scan(&status, &msg); err != nil || status != "interrupted" {
				t.Errorf("run recorded %q (%v), want interrupted", status, err)
			}
			var network int
			db.QueryRow(`SELECT count(*) FROM sync_scopes WHERE error_class = 'network'`).Scan(&network)
			if network != 0 {
				t.Errorf("%d scopes recorded with class network", network)
			}
		})
	}
}
