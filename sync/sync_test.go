package sync_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// clock is the injected clock of these tests.
type clock = testclock.Clock

const testToken = "tok-SECRET-e2e-0123456789"

// env is a simulator, a mirror file and a syncer over them.
type env struct {
	t      *testing.T
	clk    *clock
	sim    *tursotest.Server
	url    string
	store  *storage.Store
	path   string
	sleeps []time.Duration
	logs   *bytes.Buffer
	opts   tsync.Options
	mu     stdsync.Mutex
	// timeout is the client's per-attempt timeout; obs sees its requests.
	timeout time.Duration
	obs     turso.Observer
	maxBody int64 // the client's response cap; 0 is the default
}

func newEnv(t *testing.T, size tursotest.Size) *env {
	t.Helper()
	clk := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	sim, simURL := tursotest.NewServer(t, tursotest.Config{Seed: 7, Size: size, Token: testToken, Now: clk.Now})
	m := testmirror.Open(t, storage.Options{Now: clk.Now, BusyTimeout: 200 * time.Millisecond})
	e := &env{t: t, clk: clk, sim: sim, url: simURL, store: m.Store, path: m.Path, logs: &bytes.Buffer{}, timeout: 5 * time.Second}
	e.opts = tsync.Options{Now: clk.Now, Logger: slog.New(slog.NewJSONHandler(lockedWriter{e}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	return e
}

type lockedWriter struct{ e *env }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.e.mu.Lock()
	defer w.e.mu.Unlock()
	return w.e.logs.Write(p)
}

func (e *env) client(token string) *turso.Client {
	c, err := turso.NewClient(turso.Options{BaseURL: e.url, Token: turso.NewSecret(token), MaxRetries: 3, Timeout: e.timeout, MaxResponseBytes: e.maxBody,
		Now: e.clk.Now, Observer: e.obs,
		Sleep: func(ctx context.Context, d time.Duration) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.sleeps = append(e.sleeps, d)
			return nil
		}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// pass runs one sync of the account "acme" and advances the clock a minute.
func (e *env) pass(opts ...func(*tsync.Options)) tsync.Result {
	e.t.Helper()
	return e.passWith(testToken, opts...)
}

func (e *env) passWith(token string, opts ...func(*tsync.Options)) tsync.Result {
	e.t.Helper()
	o := e.opts
	for _, f := range opts {
		f(&o)
	}
	res := tsync.New(tsync.MirrorOf(e.store), o).SyncAccount(context.Background(), tsync.Account{ID: "acme", API: e.client(token)})
	e.clk.Advance(time.Minute)
	return res
}

func (e *env) db() *sql.DB { return e.store.DB() }

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db().QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *env) str(q string, args ...any) string {
	e.t.Helper()
	var s sql.NullString
	if err := e.db().QueryRow(q, args...).Scan(&s); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return s.String
}

func scope(t *testing.T, r tsync.Result, org, resource string) *storage.Scope {
	t.Helper()
	for _, o := range r.Orgs {
		if o.Org != org {
			continue
		}
		for _, sc := range o.Scopes {
			if sc.Resource == resource {
				return sc
			}
		}
	}
	t.Fatalf("no scope %s/%s in result", org, resource)
	return nil
}

var mid = tursotest.Size{Orgs: 2, Members: 30, Invites: 6, Databases: 2500, Groups: 5, APITokens: 4, AuditEvents: 250}

func TestEndToEnd(t *testing.T) {
	e := newEnv(t, mid)
	r1 := e.pass()
	if r1.Status != storage.StatusComplete {
		t.Fatalf("first pass: status %s, err %v", r1.Status, r1.Err)
	}
	for _, org := range []string{"org1", "org2"} {
		if got, want := e.count(`SELECT count(*) FROM databases WHERE organization_id = ? AND deleted_at IS NULL`, org), len(e.sim.Databases(org)); got != want {
			t.Fatalf("%s databases: got %d, want %d", org, got, want)
		}
		if got, want := e.count(`SELECT count(*) FROM role_assignments WHERE organization_id = ? AND source = 'members'`, org), len(e.sim.Members(org)); got != want {
			t.Fatalf("%s memberships: got %d, want %d", org, got, want)
		}
	}
	if n := e.count(`SELECT count(*) FROM change_events`); n != 0 {
		t.Fatalf("baseline pass wrote %d change events, want 0", n)
	}
	audit1 := e.count(`SELECT count(*) FROM audit_logs`)
	if audit1 != 2*mid.AuditEvents {
		t.Fatalf("audit logs after backfill: got %d, want %d", audit1, 2*mid.AuditEvents)
	}

	// Mutate the simulated account: each mutation logs its audit event,
	// as the real API does.
	logged := e.sim.AuditEvents("org1") + e.sim.AuditEvents("org2")
	members := e.sim.Members("org1")
	demoted, removed := members[1], members[2]
	for _, m := range members[1:] {
		if m.Role == "admin" {
			demoted = m
			break
		}
	}
	for _, m := range members[1:] {
		if m.Username != demoted.Username {
			removed = m
			break
		}
	}
	e.sim.SetMemberRole("org1", demoted.Username, "viewer")
	e.sim.RemoveMember("org1", removed.Username)
	invs := e.sim.Invites("org1")
	accepted, revoked := invs[0], invs[1]
	e.sim.AcceptInvite("org1", accepted.Email, "newbie")
	e.sim.RevokeInvite("org1", revoked.Email)
	gone := e.sim.Databases("org2")[10]
	e.sim.DeleteDatabase("org2", gone.Name)
	added := e.sim.CreateDatabase("org2", "fresh-db", "default")
	e.sim.AppendAudit("org1", "db-create", "newbie", map[string]any{"name": "x"})
	e.sim.AppendAudit("org1", "org-member-add", "admin", nil)
	logged = e.sim.AuditEvents("org1") + e.sim.AuditEvents("org2") - logged

	r2 := e.pass()
	if r2.Status != storage.StatusComplete {
		t.Fatalf("second pass: status %s, err %v", r2.Status, r2.Err)
	}
	// Demoted member: role changed, event with old and new role.
	if got := e.str(`SELECT role_id FROM role_assignments WHERE organization_id = 'org1' AND user_id = ?`, demoted.Username); got != "viewer" {
		t.Errorf("demoted role: got %q", got)
	}
	if got := e.str(`SELECT changes FROM change_events WHERE entity = 'role_assignments' AND entity_id = ? AND op = 'updated'`, "org1/"+demoted.Username); got == "" ||
		!bytes.Contains([]byte(got), []byte(`"role_id":{"new":"viewer","old":"`+demoted.Role+`"}`)) {
		t.Errorf("demotion event changes: %s", got)
	}
	// Removed member: tombstoned assignment.
	if got := e.str(`SELECT deleted_reason FROM role_assignments WHERE organization_id = 'org1' AND user_id = ?`, removed.Username); got != "removed" {
		t.Errorf("removed member tombstone reason: %q", got)
	}
	// Invites: accepted and revoked classified.
	if got := e.str(`SELECT deleted_reason FROM invites WHERE organization_id = 'org1' AND email = lower(?)`, accepted.Email); got != "accepted" {
		t.Errorf("accepted invite reason: %q", got)
	}
	if got := e.str(`SELECT deleted_reason FROM invites WHERE organization_id = 'org1' AND email = lower(?)`, revoked.Email); got != "revoked" {
		t.Errorf("revoked invite reason: %q", got)
	}
	if got := e.str(`SELECT status FROM access_review WHERE organization_id = 'org1' AND user_id = 'newbie'`); got != "active" {
		t.Errorf("newbie assignment status: %q", got)
	}
	if got := e.str(`SELECT status FROM users WHERE id = 'newbie'`); got != "active" {
		t.Errorf("newbie user status: %q", got)
	}
	// The invitee, if it was an email: user, is merged into newbie.
	if n := e.count(`SELECT count(*) FROM users WHERE id = 'email:' || lower(?) AND deleted_at IS NULL`, accepted.Email); n != 0 {
		t.Errorf("email user of the accepted invite still live")
	}
	// Databases: deleted one tombstoned, new one created with an event.
	if got := e.str(`SELECT deleted_reason FROM databases WHERE organization_id = 'org2' AND id = ?`, gone.DbID); got != "removed" {
		t.Errorf("deleted database reason: %q", got)
	}
	if n := e.count(`SELECT count(*) FROM change_events WHERE entity = 'databases' AND entity_id = ? AND op = 'created'`, "org2/"+added.DbID); n != 1 {
		t.Errorf("created database events: %d", n)
	}
	if n := e.count(`SELECT count(*) FROM change_events WHERE entity = 'databases' AND entity_id = ? AND op = 'deleted'`, "org2/"+gone.DbID); n != 1 {
		t.Errorf("deleted database events: %d", n)
	}
	// Audit: exactly the new events, no duplicates from the overlap.
	if logged != 7 {
		t.Errorf("the mutations logged %d audit events, want 7 (5 mutations, 2 appended)", logged)
	}
	if got := e.count(`SELECT count(*) FROM audit_logs`); got != audit1+logged {
		t.Errorf("audit logs: got %d, want %d", got, audit1+logged)
	}
	// When and by whom: the audit events explain the changes they name.
	owner := members[0].Username
	for _, c := range []struct{ what, entity, id, op, actor string }{
		{"role change", "role_assignments", "org1/" + demoted.Username, "updated", owner},
		{"removal", "role_assignments", "org1/" + removed.Username, "deleted", owner},
		{"accepted invite", "invites", fmt.Sprintf("org1/%d", accepted.ID), "deleted", "newbie"},
		{"new member", "role_assignments", "org1/newbie", "created", "newbie"},
		{"deleted database", "databases", "org2/" + gone.DbID, "deleted", e.sim.Members("org2")[0].Username},
		{"created database", "databases", "org2/" + added.DbID, "created", e.sim.Members("org2")[0].Username},
	} {
		got := e.str(`SELECT source || ' ' || coalesce(actor, '-') || ' ' || coalesce(happened_at, '-') FROM change_events WHERE entity = ? AND entity_id = ? AND op = ?`, c.entity, c.id, c.op)
		if !strings.HasPrefix(got, "audit_log "+c.actor+" 20") {
			t.Errorf("%s: change event says %q, want source audit_log by %s with a time", c.what, got, c.actor)
		}
	}
	if got := e.str(`SELECT source || ' ' || coalesce(actor, '-') FROM change_events WHERE entity = 'invites' AND entity_id = ? AND op = 'deleted'`, fmt.Sprintf("org1/%d", revoked.ID)); got != "observed -" {
		t.Errorf("revoked invite (no audit code): %q, want observed and no actor", got)
	}
	if got := e.str(`SELECT coalesce(deleted_by, '-') || ' ' || (deleted_happened_at IS NOT NULL) || ' ' || (deleted_at IS NOT NULL) FROM databases WHERE organization_id = 'org2' AND id = ?`, gone.DbID); got != e.sim.Members("org2")[0].Username+" 1 1" {
		t.Errorf("deleted database's tombstone: %q, want deleted_by its owner and both times", got)
	}
	if got := e.str(`SELECT coalesce(deleted_by, '-') FROM role_assignments WHERE organization_id = 'org1' AND user_id = ?`, removed.Username); got != owner {
		t.Errorf("removed member's tombstone: deleted_by %q, want %s", got, owner)
	}
	// Removed member user: inactive only if in no other org.
	wantStatus := "inactive"
	for _, m := range e.sim.Members("org2") {
		if m.Username == removed.Username {
			wantStatus = "active"
		}
	}
	if got := e.str(`SELECT status FROM users WHERE id = ?`, removed.Username); got != wantStatus {
		t.Errorf("removed user status: got %q, want %q", got, wantStatus)
	}

	// An unchanged pass writes nothing.
	events := e.count(`SELECT count(*) FROM change_events`)
	lastUpdate := e.str(`SELECT max(updated_at) FROM databases`)
	r3 := e.pass()
	if r3.Status != storage.StatusComplete {
		t.Fatalf("third pass: %s %v", r3.Status, r3.Err)
	}
	for _, o := range r3.Orgs {
		for _, sc := range o.Scopes {
			if sc.Resource == "usage" {
				continue // a time series: a new day may add rows
			}
			if sc.Counts.Created+sc.Counts.Updated+sc.Counts.Deleted != 0 {
				t.Errorf("unchanged pass wrote %s/%s: %+v", o.Org, sc.Resource, sc.Counts)
			}
		}
	}
	if got := e.count(`SELECT count(*) FROM change_events`); got != events {
		t.Errorf("unchanged pass wrote %d change events", got-events)
	}
	if got := e.str(`SELECT max(updated_at) FROM databases`); got != lastUpdate {
		t.Errorf("unchanged pass rewrote databases: max(updated_at) %s -> %s", lastUpdate, got)
	}
	if n := e.count(`SELECT count(*) FROM sync_runs WHERE status = 'complete'`); n != 3 {
		t.Errorf("complete runs: %d", n)
	}
	e.assertNoToken()
}

// assertNoToken greps the mirror files and the logs for the bearer token.
func (e *env) assertNoToken() {
	e.t.Helper()
	for _, where := range e.tokenLeaks() {
		e.t.Errorf("token found in %s", where)
	}
}

// tokenLeaks names each place the bearer token was found: the mirror file,
// its WAL, the logs.
func (e *env) tokenLeaks() []string {
	e.t.Helper()
	var found []string
	for _, suffix := range []string{"", "-wal"} {
		if e.path == "" {
			break // a server mirror: the cmd tests grep its data directory
		}
		b, err := os.ReadFile(e.path + suffix)
		if err != nil && !os.IsNotExist(err) {
			e.t.Fatal(err)
		}
		if bytes.Contains(b, []byte(testToken)) {
			found = append(found, "mirror file "+e.path+suffix)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if bytes.Contains(e.logs.Bytes(), []byte(testToken)) {
		found = append(found, "logs")
	}
	return found
}

// In the daemon an org the token does not list fails alone, as not_found,
// with no request for it; the configured orgs it lists are synced.
func TestUnknownConfiguredOrgFailsAlone(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 2, Members: 3, Databases: 3, Groups: 1})
	e.sim.ResetLog()
	r := tsync.New(tsync.MirrorOf(e.store), e.opts).SyncAccount(context.Background(), tsync.Account{ID: "acme", Orgs: []string{"org1", "Org2"}, API: e.client(testToken)})
	if r.Status != "partial" || r.Err != nil {
		t.Fatalf("pass %s (%v), want partial", r.Status, r.Err)
	}
	if sc := scope(t, r, "org1", "members"); sc.Status != storage.StatusComplete {
		t.Errorf("org1 members %s, want complete", sc.Status)
	}
	sc := scope(t, r, "Org2", "members")
	if sc.Status != storage.StatusFailed || sc.ErrorClass != "not_found" || !strings.Contains(sc.Error, `did you mean "org2"`) {
		t.Errorf("Org2 members %s/%s %q, want failed/not_found with a suggestion", sc.Status, sc.ErrorClass, sc.Error)
	}
	for _, req := range e.sim.Requests() {
		if req.Org == "Org2" || req.Org == "org2" {
			t.Errorf("request for %s sent: %s", req.Org, req.Route)
		}
	}
	if n := e.count(`SELECT count(*) FROM sync_scopes WHERE organization_id = 'Org2' AND error_class = 'not_found'`); n == 0 {
		t.Error("the unknown org's failed scopes are not recorded in sync_scopes")
	}
}

// access_review.since comes from the org's audit log where it holds the
// member's org-member-add event, else from the mirror, and says which.
func TestAccessReviewSinceComesFromTheAuditLog(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 1, Members: 6, Databases: 2, Groups: 1})
	m := e.sim.Members("org1")[2]
	added := e.sim.AppendAudit("org1", "org-member-add", e.sim.Members("org1")[0].Username, map[string]any{"username": m.Username, "role": m.Role})
	e.clk.Advance(3 * time.Hour)
	e.pass()
	since := func(user string) (string, string) {
		var s, src string
		if err := e.db().QueryRow(`SELECT since, since_source FROM access_review WHERE organization_id = 'org1' AND username = ?`, user).Scan(&s, &src); err != nil {
			t.Fatal(err)
		}
		return s, src
	}
	if s, src := since(m.Username); s != added.CreatedAt || src != "audit_log" {
		t.Errorf("%s since %s (%s), want the audit event's %s (audit_log)", m.Username, s, src, added.CreatedAt)
	}
	// Members no org-member-add event names: since the mirror first saw them.
	if n := e.count(`SELECT count(*) FROM access_review r WHERE organization_id = 'org1' AND since_source <> 'first_seen'
		AND NOT EXISTS (SELECT 1 FROM audit_logs a WHERE a.code = 'org-member-add' AND json_extract(a.data, '$.username') = r.username)`); n != 0 {
		t.Errorf("%d members without an audit event are not dated first_seen", n)
	}
	role := "admin"
	if m.Role == role {
		role = "viewer"
	}
	e.sim.SetMemberRole("org1", m.Username, role)
	changedAt := e.clk.Now().UTC().Format(time.RFC3339)
	e.pass()
	if s, src := since(m.Username); s != changedAt || src != "role_change" {
		t.Errorf("after a role change %s since %s (%s), want %s (role_change)", m.Username, s, src, changedAt)
	}
}
