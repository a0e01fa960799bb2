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
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/internal/testport"
	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/internal/webhooktest"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso/tursotest"
)

const hookSecret = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLXRoZS13ZWJob29rLXRlc3Rz" // "test-secret-for-the-webhook-tests"

// changeIDs are the ids of the account's change events, in order.
func changeIDs(t *testing.T, mirror string) []int64 {
	t.Helper()
	var out []int64
	readMirror(t, mirror, func(db *sql.DB) {
		rows, err := db.Query(`SELECT id FROM change_events WHERE account_id = 'acme' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			out = append(out, id)
		}
	})
	return out
}

// The daemon delivers every change of real passes to a receiver that
// verifies each delivery with the reference library, in the order of
// change_events; a SIGKILL mid-delivery loses nothing, and repeats at
// most one batch (with its webhook-id).
func TestDaemonDeliversEveryChange(t *testing.T) {
	t.Parallel() // mostly waits on its daemons: it runs beside the others
	r := webhooktest.Start(t, hookSecret)
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Small, Token: cmdToken})
	dir := t.TempDir()
	mirror := filepath.Join(dir, "m.db")
	cfg := daemonConfig{mirror: "file:" + mirror, api: apiURL, listen: testport.Addr(t), schedule: "@every 2s", shutdownTimeout: "30s", accounts: []string{"acme"}}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg.write(t, cfgPath)
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "webhooks:\n  - id: secops\n    url: %q\n    secret_env: HOOK_SECRET\n    batch: 5\n", r.URL+"/hook")
	f.Close()
	env := []string{"ACME_TOKEN=" + cmdToken, "HOOK_SECRET=" + hookSecret}
	p := startTursync(t, env, "run", "--config", cfgPath)
	p.waitLog("account pass")

	// Real changes: a role change, a member removed, an invite accepted
	// and one revoked, an API token created.
	org := sim.Orgs()[0]
	ms := sim.Members(org)
	sim.SetMemberRole(org, ms[1].Username, "viewer")
	sim.RemoveMember(org, ms[2].Username)
	invs := sim.Invites(org)
	sim.AcceptInvite(org, invs[0].Email, "newcomer")
	sim.RevokeInvite(org, invs[1].Email)
	sim.CreateAPIToken(org, "ci-deploy")
	testwait.UntilSays(t, "the changes to be written", func() (bool, string) {
		n := len(changeIDs(t, mirror))
		return n >= 5, fmt.Sprint(n, " change events")
	})
	want := changeIDs(t, mirror)
	if n := countRows(t, mirror, `SELECT count(*) FROM sync_runs WHERE token_expires_at IS NOT NULL`); n == 0 {
		t.Error("no run recorded the token's expiry (token.expiring needs it)")
	}
	testwait.UntilSays(t, "every change event to arrive", func() (bool, string) {
		got := webhooktest.Events(t, r.Received())
		return len(got) >= len(want), fmt.Sprintf("%d of %d events", len(got), len(want))
	})
	got := webhooktest.Events(t, r.Received())
	want = changeIDs(t, mirror) // a later pass may have added some
	if len(got) > len(want) {
		t.Fatalf("%d events received, more than the %d change events", len(got), len(want))
	}
	for i, e := range got {
		if e.Data.ID != want[i] {
			t.Fatalf("event %d: id %d, want %d (change_events order, no gap)", i, e.Data.ID, want[i])
		}
	}
	types := map[string]bool{}
	for _, e := range got {
		types[e.Type] = true
		// The removal is in the org's audit log: the event says who did it
		// and when; the revoked invite is in no audit log.
		if e.Type == "role_assignments.deleted" && e.Data.EntityID == org+"/"+ms[2].Username && (e.Data.Source != "audit_log" || e.Data.Actor == nil || *e.Data.Actor != ms[0].Username || e.Data.HappenedAt == nil) {
			t.Errorf("the removal's event lacks its audit event: source %q, actor %v, happened_at %v", e.Data.Source, e.Data.Actor, e.Data.HappenedAt)
		}
		if e.Type == "invites.deleted" && e.Data.EntityID == fmt.Sprintf("%s/%d", org, invs[1].ID) && (e.Data.Source != "observed" || e.Data.Actor != nil) {
			t.Errorf("the revoked invite's event claims an audit event: source %q, actor %v", e.Data.Source, e.Data.Actor)
		}
	}
	for _, ty := range []string{"role_assignments.updated", "role_assignments.deleted", "invites.deleted", "api_tokens.created"} {
		if !types[ty] {
			t.Errorf("no %s event among %v", ty, types)
		}
	}
	for _, d := range r.Received() {
		if !d.Verified {
			t.Fatalf("delivery %s failed the reference library's check: %s", d.ID, d.Error)
		}
	}
	// The lag gauge is measured after a delivery run returns, a moment
	// after the receiver has the last batch.
	testwait.UntilSays(t, "the webhook metrics to show the endpoint caught up", func() (bool, string) {
		_, exposition := httpGet("http://" + cfg.listen + "/metrics")
		ok := strings.Contains(exposition, `tursync_webhook_deliveries_total{code="204",endpoint="secops"}`) &&
			strings.Contains(exposition, `tursync_webhook_lag_events{endpoint="secops"} 0`)
		return ok, grepLines(exposition, "webhook")
	})

	var status string
	testwait.UntilSays(t, "/status to show the endpoint caught up", func() (bool, string) {
		_, status = httpGet("http://" + cfg.listen + "/status")
		var st daemon.Status
		if err := json.Unmarshal([]byte(status), &st); err != nil {
			return false, err.Error()
		}
		ok := len(st.Webhooks) == 1 && st.Webhooks[0].Endpoint == "secops" && st.Webhooks[0].Behind == 0 &&
			st.Webhooks[0].LastAttempt != nil && st.Webhooks[0].LastAttempt.Status == "delivered"
		return ok, fmt.Sprintf("%+v", st.Webhooks)
	})
	_, page := httpGet("http://" + cfg.listen + "/")
	if !strings.Contains(page, `data-endpoint="secops" data-behind="0"`) {
		t.Errorf("the status page lacks the endpoint:\n%s", grepLines(page, "webhook"))
	}
	if strings.Contains(status+page, "Extraction queries") || strings.Contains(status, `"query":"webhook:secops"`) {
		t.Errorf("a webhook task is listed as an extraction query")
	}

	// SIGKILL while the receiver holds a batch, then restart: nothing is
	// missing, and at most that batch repeats, with the same webhook-id.
	r.Respond(map[string]any{"delay_ms": 4000})
	sim.SetMemberRole(org, ms[3].Username, "admin")
	sim.CreateAPIToken(org, "ci-deploy-2")
	before := len(r.Received())
	testwait.UntilSays(t, "a delivery in flight", func() (bool, string) { return len(r.Received()) > before, "waiting" })
	p.signal(syscall.SIGKILL)
	p.wait()
	p2 := startTursync(t, env, "run", "--config", cfgPath)
	want = changeIDs(t, mirror)
	// The restarted daemon is done once its cursor is at the last event
	// (what was received before the kill does not count: it was never
	// acknowledged to tursync).
	testwait.UntilSays(t, "the restarted daemon to catch up", func() (bool, string) {
		c := cursorOf(t, mirror)
		return c == want[len(want)-1], fmt.Sprintf("cursor %d, last event %d", c, want[len(want)-1])
	})
	seen := map[int64]bool{}
	for _, e := range webhooktest.Events(t, r.Received()) {
		seen[e.Data.ID] = true
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct events received, want all %d", len(seen), len(want))
	}
	ids := map[string]int{}
	for _, d := range r.Received() {
		ids[d.ID]++
	}
	repeats := 0
	for _, n := range ids {
		if n > 1 {
			repeats += n - 1
		}
	}
	// The batch in flight was received but its answer never reached the
	// killed daemon: exactly it repeats, under the same webhook-id.
	if repeats != 1 {
		var seen []string
		for _, d := range r.Received() {
			seen = append(seen, fmt.Sprintf("%s:%v:%d", d.ID, d.Answered, len(webhooktest.Events(t, []webhooktest.Delivery{d}))))
		}
		t.Errorf("%d deliveries repeated after the SIGKILL, want the one batch in flight; received %v", repeats, seen)
	}
	// The guard trips: most databases vanish at once, and the endpoint
	// hears scope.guarded with the release command.
	sim.SetDatabases(org, 10)
	testwait.UntilSays(t, "a scope.guarded event", func() (bool, string) {
		for _, d := range r.Received() {
			if strings.Contains(string(d.Body), `"type":"scope.guarded"`) && strings.Contains(string(d.Body), "--force-deletes --account acme --org "+org) {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(r.Received()), " deliveries")
	})
	p2.signal(syscall.SIGTERM)
	p2.wait()
	if strings.Contains(p.log()+p2.log(), strings.TrimPrefix(hookSecret, "whsec_")) {
		t.Error("the webhook secret is in the logs")
	}
	for _, f := range []string{mirror, mirror + "-wal"} {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), strings.TrimPrefix(hookSecret, "whsec_")) {
			t.Errorf("the webhook secret is in %s", f)
		}
	}
}

// readOnly opens a mirror file read-only, waiting out a daemon's commit
// (or its WAL recovery, SQLITE_BUSY_RECOVERY) instead of failing at once.
const readOnly = "?mode=ro&_pragma=busy_timeout(10000)"

// readMirror hands fn the mirror file, opened read-only.
func readMirror(t *testing.T, mirror string, fn func(*sql.DB)) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+mirror+readOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fn(db)
}

// countRows runs a count on the mirror file.
func countRows(t *testing.T, mirror, q string) int {
	t.Helper()
	var n int
	readMirror(t, mirror, func(db *sql.DB) {
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
	})
	return n
}

// cursorOf is the secops endpoint's cursor for acme (0 before it starts).
func cursorOf(t *testing.T, mirror string) int64 {
	t.Helper()
	return int64(countRows(t, mirror, `SELECT coalesce(max(last_event_id), 0) FROM webhook_cursors WHERE endpoint = 'secops' AND account_id = 'acme'`))
}

// grepLines keeps the lines of s that hold sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Each webhook setting is checked at load, naming the key; a bad secret
// is refused without being quoted.
func TestWebhookConfigErrors(t *testing.T) {
	base := "accounts:\n  - id: acme\n    token_env: T\nwebhooks:\n"
	cases := []struct{ yaml, want string }{
		{"  - {id: Bad Id, url: 'https://h.example/x', secret_env: S}\n", `webhooks[0].id`},
		{"  - {id: a, url: 'http://h.example/x', secret_env: S}\n", "http:// is only allowed for loopback hosts"},
		{"  - {id: a, url: 'https://h.example/x', secret_env: BAD}\n", `not "whsec_" followed by standard base64`},
		{"  - {id: a, url: 'https://h.example/x', secret_env: MISSING}\n", "environment variable MISSING is not set"},
		{"  - {id: a, url: 'https://h.example/x', secret_env: S, accounts: [nobody]}\n", `no account "nobody"`},
		{"  - {id: a, url: 'https://h.example/x', secret_env: S, batch: 5000}\n", "webhooks[0].batch"},
		{"  - {id: a, url: 'https://h.example/x', secret_env: S, events: ['[']}\n", "webhooks[0].events[0]"},
		{"  - {id: a, url: 'https://h.example/x', secret_env: S}\n  - {id: a, url: 'https://h.example/y', secret_env: S}\n", `duplicate webhook id "a"`},
	}
	getenv := env(map[string]string{"T": "tok", "S": hookSecret, "BAD": "whsec_not*base64!secret-value"})
	for _, c := range cases {
		_, err := ParseConfig(strings.NewReader(base+c.yaml), true, getenv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", strings.TrimSpace(c.yaml), err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-value") {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

// webhooks test sends a signed ping the reference library verifies; list
// and replay read and move the cursor.
func TestWebhooksCommands(t *testing.T) {
	r := webhooktest.Start(t, hookSecret)
	_, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 3, Databases: 3, Groups: 1}, Token: cmdToken})
	mirror := filepath.Join(t.TempDir(), "m.db")
	cfg := writeConfig(t, "file:"+mirror, apiURL)
	b, _ := os.ReadFile(cfg)
	b = append(b, fmt.Sprintf("webhooks:\n  - id: secops\n    url: %q\n    secret_env: HOOK_SECRET\n", r.URL+"/hook")...)
	os.WriteFile(cfg, b, 0o600)
	env := map[string]string{"ACME_TOKEN": cmdToken, "HOOK_SECRET": hookSecret}
	if res := runMain(t, env, "sync", "--config", cfg); res.code != 0 {
		t.Fatalf("sync: %d %s", res.code, res.stderr)
	}
	res := runMain(t, env, "webhooks", "test", "--config", cfg, "--endpoint", "secops")
	if res.code != 0 || !strings.Contains(res.stdout, "ping delivered (HTTP 204)") {
		t.Fatalf("webhooks test: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := r.Received(); len(got) != 1 || !got[0].Verified || !strings.Contains(string(got[0].Body), `"type":"ping"`) {
		t.Fatalf("the ping: %+v", got)
	}
	other := map[string]string{"ACME_TOKEN": cmdToken, "HOOK_SECRET": "whsec_" + "b3RoZXItc2VjcmV0LXRoYXQtdGhlLXJlY2VpdmVyLWRvZXMtbm90LWtub3c="}
	if res := runMain(t, other, "webhooks", "test", "--config", cfg, "--endpoint", "secops"); res.code != 1 || !strings.Contains(res.stdout, "HTTP 401") {
		t.Errorf("a ping the receiver refuses: exit %d, %s", res.code, res.stdout)
	}
	if res := runMain(t, env, "webhooks", "test", "--config", cfg, "--endpoint", "nope"); res.code != 2 || !strings.Contains(res.stderr, "secops") {
		t.Errorf("an unknown endpoint: exit %d, %s", res.code, res.stderr)
	}
	if res := runMain(t, env, "webhooks", "replay", "--config", cfg, "--endpoint", "secops", "--from", "7"); res.code != 0 {
		t.Fatalf("replay: %d %s", res.code, res.stderr)
	}
	if c := cursorOf(t, mirror); c != 6 {
		t.Errorf("cursor after replay --from 7: %d, want 6", c)
	}
	if res := runMain(t, env, "webhooks", "list", "--config", cfg); res.code != 0 || !strings.Contains(res.stdout, "secops") || !strings.Contains(res.stdout, "0 events") {
		t.Errorf("list: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// Two daemons on one sqld mirror, one endpoint: each change arrives once,
// in order; the endpoint's lease lets one daemon deliver at a time.
func TestTwoDaemonsDeliverEachChangeOnce(t *testing.T) {
	t.Parallel() // mostly waits on its daemons: it runs beside the others
	srv := sqldtest.Start(t, sqldtest.Options{})
	r := webhooktest.Start(t, hookSecret)
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Small, Token: cmdToken})
	env := []string{"ACME_TOKEN=" + cmdToken, "HOOK_SECRET=" + hookSecret}
	var daemons []*proc
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		cfg := daemonConfig{mirror: srv.URL, api: apiURL, listen: testport.Addr(t), schedule: "@every 2s", shutdownTimeout: "30s", accounts: []string{"acme"}}
		cfgPath := filepath.Join(dir, "config.yaml")
		cfg.write(t, cfgPath)
		f, _ := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
		fmt.Fprintf(f, "webhooks:\n  - id: secops\n    url: %q\n    secret_env: HOOK_SECRET\n    batch: 3\n", r.URL+"/hook")
		f.Close()
		p := startTursync(t, env, "run", "--config", cfgPath)
		p.waitLog("tursync daemon started")
		daemons = append(daemons, p)
	}
	org := sim.Orgs()[0]
	for i := 0; i < 4; i++ {
		sim.CreateAPIToken(org, fmt.Sprintf("bot-%d", i))
		sim.SetMemberRole(org, sim.Members(org)[1+i].Username, []string{"admin", "viewer"}[i%2])
		time.Sleep(2 * time.Second)
	}
	shared := testmirror.OpenURL(t, srv.URL, storage.Options{NoMigrate: true})
	want := func() []int64 {
		evs, err := shared.Outbox().ChangesAfter(context.Background(), "acme", 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
		}
		return ids
	}
	testwait.UntilSays(t, "every change to arrive", func() (bool, string) {
		w := want()
		got := webhooktest.Events(t, r.Received())
		return len(w) >= 4 && len(got) == len(w), fmt.Sprintf("%d of %d", len(got), len(w))
	})
	got, w := webhooktest.Events(t, r.Received()), want()
	for i, e := range got {
		if e.Data.ID != w[i] {
			t.Fatalf("event %d: id %d, want %d: a repeat, a gap or out of order", i, e.Data.ID, w[i])
		}
	}
	seen := map[string]bool{}
	for _, d := range r.Received() {
		if seen[d.ID] {
			t.Errorf("batch %s delivered twice", d.ID)
		}
		seen[d.ID] = true
	}
	for _, p := range daemons {
		p.signal(syscall.SIGTERM)
		p.wait()
	}
}
