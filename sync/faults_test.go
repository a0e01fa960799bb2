package sync_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite"

	"github.com/tursync/tursync/internal/testmetrics"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/metrics"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/sync/synctest"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

var small = tursotest.Size{Orgs: 2, Members: 30, Invites: 6, Databases: 120, Groups: 3, APITokens: 3, AuditEvents: 40}

// snapshot is every entity row's content hash and tombstone, to prove a
// pass changed nothing.
func (e *env) snapshot(tables ...string) string {
	e.t.Helper()
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := e.db().Query(`SELECT content_hash || '|' || coalesce(deleted_at, '') FROM "` + tbl + `" ORDER BY 1`)
		if err != nil {
			e.t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			b.WriteString(s + "\n")
		}
		rows.Close()
	}
	return b.String()
}

var entityTables = func() []string {
	var out []string
	for _, t := range schema.EntityTables {
		out = append(out, t.Name)
	}
	return out
}()

func TestInvites500KeepsInvitesAndCommitsMembers(t *testing.T) {
	e := newEnv(t, small)
	e.pass()
	invitesBefore := e.snapshot("invites")
	e.sim.RevokeInvite("org1", e.sim.Invites("org1")[0].Email)
	e.sim.SetMemberRole("org1", e.sim.Members("org1")[3].Username, "owner")
	e.sim.Inject(turso.RouteInvites, "org1", tursotest.Fault{Status: 500})

	r := e.pass()
	sc := scope(t, r, "org1", "invites")
	if sc.Status != storage.StatusFailed || sc.ErrorClass != "server" {
		t.Fatalf("invites scope: %s/%s, want failed/server", sc.Status, sc.ErrorClass)
	}
	if got := e.snapshot("invites"); got != invitesBefore {
		t.Errorf("invites changed although their scope failed")
	}
	if got := scope(t, r, "org1", "members"); got.Status != storage.StatusComplete || got.Counts.Updated != 1 {
		t.Errorf("members scope: %s, %+v; want complete with 1 update", got.Status, got.Counts)
	}
	if r.Status != "partial" {
		t.Errorf("run status %q, want partial", r.Status)
	}
	if got := e.str(`SELECT status FROM sync_scopes WHERE organization_id = 'org1' AND resource = 'invites' ORDER BY run_id DESC LIMIT 1`); got != "failed" {
		t.Errorf("sync_scopes invites: %q", got)
	}
	// 5 tries of a 500 (1 + 3 retries).
	n := 0
	for _, req := range e.sim.Requests() {
		if req.Route == turso.RouteInvites && req.Org == "org1" && req.Status == 500 {
			n++
		}
	}
	if n != 4 {
		t.Errorf("invites requests answered 500: %d, want 4 (1 + 3 retries)", n)
	}
	// The next clean pass converges.
	e.sim.ClearFaults()
	r = e.pass()
	if r.Status != storage.StatusComplete {
		t.Fatalf("clean pass: %s", r.Status)
	}
	if got, want := e.count(`SELECT count(*) FROM invites WHERE organization_id = 'org1' AND deleted_at IS NULL`), len(e.sim.Invites("org1")); got != want {
		t.Errorf("live invites after convergence: %d, want %d", got, want)
	}
}

func TestEmptyMemberListIsGuarded(t *testing.T) {
	e := newEnv(t, small)
	e.pass()
	before := e.snapshot("role_assignments")
	e.sim.Inject(turso.RouteMembers, "org1", tursotest.Fault{Body: `{"members": []}`})
	r := e.pass()
	sc := scope(t, r, "org1", "members")
	if sc.Status != storage.StatusGuarded || sc.DeletesHeld != small.Members {
		t.Fatalf("members scope: %s held %d; want guarded holding %d", sc.Status, sc.DeletesHeld, small.Members)
	}
	if r.Failed() {
		t.Errorf("a guarded scope is not a failure; run status %s", r.Status)
	}
	if got := e.snapshot("role_assignments"); got != before {
		t.Errorf("guarded scope deleted memberships")
	}
	if got := e.count(`SELECT deletes_held FROM sync_scopes WHERE organization_id = 'org1' AND resource = 'members' ORDER BY run_id DESC LIMIT 1`); got != small.Members {
		t.Errorf("sync_scopes.deletes_held = %d", got)
	}
	// An operator confirms: the deletes apply.
	e.sim.ClearFaults()
	e.sim.Inject(turso.RouteMembers, "org1", tursotest.Fault{Body: `{"members": []}`})
	r = e.pass(func(o *tsync.Options) { o.ForceDeletes = true })
	if sc := scope(t, r, "org1", "members"); sc.Status != storage.StatusComplete || sc.Counts.Deleted != small.Members {
		t.Errorf("forced: %s deleted %d", sc.Status, sc.Counts.Deleted)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t, small)
	e.sim.Inject(turso.RouteGroups, "org1", tursotest.Fault{Status: 429, RetryAfter: "2", Times: 1})
	r := e.pass()
	if sc := scope(t, r, "org1", "groups"); sc.Status != storage.StatusComplete {
		t.Fatalf("groups after one 429: %s %s", sc.Status, sc.Error)
	}
	if len(e.sleeps) != 1 || e.sleeps[0] < 2*time.Second {
		t.Fatalf("waits: %v; want one wait of at least 2s", e.sleeps)
	}
	if r.Stats.Retries != 1 || r.Stats.RateLimitedSeconds < 2 {
		t.Errorf("stats: %+v", r.Stats)
	}
	if got := e.count(`SELECT api_retries FROM sync_runs ORDER BY id DESC LIMIT 1`); got != 1 {
		t.Errorf("sync_runs.api_retries = %d", got)
	}
}

func TestRevokedTokenChangesNothing(t *testing.T) {
	e := newEnv(t, small)
	e.pass()
	before := e.snapshot(entityTables...)
	e.sim.RemoveMember("org1", e.sim.Members("org1")[1].Username)
	r := e.passWith("revoked-token")
	if r.Status != storage.StatusFailed || turso.ClassOf(r.Err) != turso.ClassAuth {
		t.Fatalf("status %s err %v; want failed with class auth", r.Status, r.Err)
	}
	if got := e.snapshot(entityTables...); got != before {
		t.Errorf("a 401 pass changed the mirror")
	}
	// A 401 in the middle of an org (the token revoked mid-pass).
	e.sim.Inject(turso.RouteDatabases, "org1", tursotest.Fault{Status: 401})
	r = e.pass()
	if r.Status != storage.StatusFailed {
		t.Fatalf("mid-pass 401: status %s", r.Status)
	}
	if got := e.snapshot(entityTables...); got != before {
		t.Errorf("a mid-pass 401 changed the mirror")
	}
}

func TestBadBodiesFailWithDecode(t *testing.T) {
	for _, f := range []tursotest.Fault{{Truncate: true}, {Malformed: true}, {Body: `{"groups": "not a list"}`}} {
		e := newEnv(t, small)
		e.pass()
		before := e.snapshot("groups")
		e.sim.DeleteGroup("org2", e.sim.Groups("org2")[0].Name)
		e.sim.Inject(turso.RouteGroups, "org2", f)
		r := e.pass()
		sc := scope(t, r, "org2", "groups")
		if sc.Status != storage.StatusFailed || sc.ErrorClass != "decode" {
			t.Errorf("fault %+v: groups %s/%s, want failed/decode", f, sc.Status, sc.ErrorClass)
		}
		if got := e.snapshot("groups"); got != before {
			t.Errorf("fault %+v: groups changed", f)
		}
		if sc := scope(t, r, "org2", "databases"); sc.Status != storage.StatusComplete {
			t.Errorf("fault %+v: databases %s", f, sc.Status)
		}
	}
}

func TestPlanAndRoleGatesAreUnavailable(t *testing.T) {
	e := newEnv(t, small)
	e.sim.Inject(turso.RouteAuditLogs, "", tursotest.Fault{Status: 402, Body: `{"code":"feature_not_available_for_starter_plan"}`})
	e.sim.Inject(turso.RouteInvites, "org2", tursotest.Fault{Status: 403})
	r := e.pass()
	if r.Failed() {
		t.Fatalf("unavailable scopes made the run %s", r.Status)
	}
	if sc := scope(t, r, "org1", "audit_logs"); sc.Status != storage.StatusUnavailable || sc.ErrorClass != "plan" {
		t.Errorf("audit_logs: %s/%s", sc.Status, sc.ErrorClass)
	}
	if sc := scope(t, r, "org2", "invites"); sc.Status != storage.StatusUnavailable || sc.ErrorClass != "forbidden" {
		t.Errorf("invites: %s/%s", sc.Status, sc.ErrorClass)
	}
}

func TestLockedMirrorFailsCleanly(t *testing.T) {
	testmirror.FileOnly(t)
	e := newEnv(t, small)
	e.pass()
	before := e.snapshot(entityTables...)
	e.sim.RemoveMember("org1", e.sim.Members("org1")[1].Username)
	// Another writer holds the write lock for the whole pass.
	other, err := sql.Open("sqlite", e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	r := e.pass()
	conn.ExecContext(context.Background(), "ROLLBACK")
	if r.Status != storage.StatusFailed || r.Err == nil || !strings.Contains(r.Err.Error(), "locked") {
		t.Fatalf("status %s err %v; want failed naming the lock", r.Status, r.Err)
	}
	if got := e.snapshot(entityTables...); got != before {
		t.Errorf("mirror changed under a lock")
	}
}

func TestOrgWriteFailureRollsBackTheWholeOrg(t *testing.T) {
	testmirror.FileOnly(t)
	e := newEnv(t, small)
	e.pass()
	before := e.snapshot(entityTables...)
	e.sim.RemoveMember("org1", e.sim.Members("org1")[1].Username)
	e.sim.CreateDatabase("org1", "late-db", "")
	// The lock is taken after the account rows are written, before org1's
	// transaction: a mirror that locks the file from the first commit on.
	ls := &fileLock{path: e.path, t: t}
	defer ls.release()
	m := synctest.Hook(tsync.MirrorOf(e.store), synctest.Hooks{BeforeCommit: func(ctx context.Context, _ string) { ls.lock(ctx) }})
	r := tsync.New(m, e.opts).SyncAccount(context.Background(), tsync.Account{ID: "acme", API: e.client(testToken)})
	for _, o := range r.Orgs {
		for _, sc := range o.Scopes {
			if sc.Status != storage.StatusFailed || sc.ErrorClass != "mirror" {
				t.Errorf("%s/%s: %s/%s, want failed/mirror", o.Org, sc.Resource, sc.Status, sc.ErrorClass)
			}
		}
	}
	ls.release()
	if got := e.snapshot(entityTables...); got != before {
		t.Errorf("a failed org write left rows behind")
	}
}

// fileLock holds the mirror file's write lock from another connection.
type fileLock struct {
	path string
	t    *testing.T
	db   *sql.DB
	conn *sql.Conn
}

func (l *fileLock) lock(ctx context.Context) {
	if l.conn == nil {
		l.db, _ = sql.Open("sqlite", l.path)
		c, err := l.db.Conn(ctx)
		if err != nil {
			l.t.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			l.t.Fatal(err)
		}
		l.conn = c
	}
}

func (l *fileLock) release() {
	if l.conn != nil {
		l.conn.ExecContext(context.Background(), "ROLLBACK")
		l.conn.Close()
		l.db.Close()
		l.conn = nil
	}
}

func TestVanishedOrgIsOffboarded(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 2, Members: 3, Invites: 1, Databases: 3, Groups: 1, APITokens: 1, AuditEvents: 2})
	e.pass()
	e.sim.DeleteOrg("org2")
	// Removing a whole org trips the guard (every row goes) until an
	// operator confirms it.
	r := e.pass()
	if sc := scope(t, r, "org2", "organization"); sc.Status != storage.StatusGuarded || sc.DeletesHeld < 10 {
		t.Fatalf("org2 removal: %s held %d, want guarded", sc.Status, sc.DeletesHeld)
	}
	if n := e.count(`SELECT count(*) FROM databases WHERE organization_id = 'org2' AND deleted_at IS NULL`); n != 3 {
		t.Fatalf("guarded removal deleted databases: %d live", n)
	}
	r = e.pass(func(o *tsync.Options) { o.ForceDeletes = true })
	var removed bool
	for _, o := range r.Orgs {
		if o.Org == "org2" && o.Removed {
			removed = true
		}
	}
	if !removed {
		t.Fatalf("org2 not offboarded: %+v", r.Orgs)
	}
	if n := e.count(`SELECT count(*) FROM databases WHERE organization_id = 'org2' AND deleted_reason = 'organization_removed'`); n != 3 {
		t.Errorf("org2 databases tombstoned: %d", n)
	}
	if got := e.str(`SELECT deleted_reason FROM organizations WHERE id = 'org2'`); got != "organization_removed" {
		t.Errorf("org2 tombstone reason %q", got)
	}
	if n := e.count(`SELECT count(*) FROM databases WHERE organization_id = 'org1' AND deleted_at IS NULL`); n != 3 {
		t.Errorf("org1 databases live: %d", n)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t, small)
	e.pass()
	before := e.snapshot(entityTables...)
	runs := e.count(`SELECT count(*) FROM sync_runs`)
	e.sim.DeleteDatabase("org1", e.sim.Databases("org1")[0].Name)
	o := e.opts
	o.DryRun = true
	r := tsync.New(tsync.MirrorOf(e.store), o).SyncAccount(context.Background(), tsync.Account{ID: "acme", API: e.client(testToken)})
	if sc := scope(t, r, "org1", "databases"); sc.Counts.Deleted != 1 {
		t.Errorf("dry run planned %d deletes, want 1", sc.Counts.Deleted)
	}
	if got := e.snapshot(entityTables...); got != before {
		t.Errorf("dry run changed the mirror")
	}
	if got := e.count(`SELECT count(*) FROM sync_runs`); got != runs {
		t.Errorf("dry run recorded a run")
	}
}

func TestContextCancelStopsCleanly(t *testing.T) {
	e := newEnv(t, small)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := tsync.New(tsync.MirrorOf(e.store), e.opts).SyncAccount(ctx, tsync.Account{ID: "acme", API: e.client(testToken)})
	if r.Status != storage.StatusFailed || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("cancelled pass: %s %v", r.Status, r.Err)
	}
}

func TestFutureAuditEventDoesNotFreezeTheMark(t *testing.T) {
	e := newEnv(t, small)
	e.pass()
	// An event stamped a day ahead, then ordinary ones.
	e.clk.Advance(24 * time.Hour)
	e.sim.AppendAudit("org1", "db-create", "clock-skew", nil)
	e.clk.Advance(-24 * time.Hour)
	e.pass()
	e.clk.Advance(time.Hour)
	e.sim.AppendAudit("org1", "db-delete", "later", nil)
	r := e.pass()
	if sc := scope(t, r, "org1", "audit_logs"); sc.Counts.Created != 1 {
		t.Errorf("audit events created after a future-dated one: %d, want 1", sc.Counts.Created)
	}
	if n := e.count(`SELECT count(*) FROM audit_logs WHERE author = 'later'`); n != 1 {
		t.Errorf("later event stored %d times", n)
	}
}

// The usage response is decoded as it streams in: a body cut short or
// malformed part-way fails the scope and leaves every stored counter as it
// was, though pages before the fault were already decoded and staged.
func TestUsageStreamFailuresChangeNothing(t *testing.T) {
	for _, f := range []tursotest.Fault{{Truncate: true}, {Malformed: true}, {Body: `{"organization": {"databases": "not a list"}}`}} {
		e := newEnv(t, small)
		e.pass()
		const fingerprint = `SELECT count(*) || '/' || sum(rows_read) || '/' || group_concat(observed_at) FROM usage`
		before := e.str(fingerprint)
		e.clk.Advance(24 * time.Hour) // a new day: every counter would be a new row
		e.sim.Inject(turso.RouteUsage, "org1", f)
		r := e.pass()
		if sc := scope(t, r, "org1", "usage"); sc.Status != storage.StatusFailed || sc.ErrorClass != "decode" {
			t.Errorf("fault %+v: usage %s/%s, want failed/decode", f, sc.Status, sc.ErrorClass)
		}
		if got := e.count(`SELECT count(*) FROM usage WHERE organization_id = 'org1' AND day = ?`, e.clk.Now().Add(-time.Minute).UTC().Format("2006-01-02")); got != 0 {
			t.Errorf("fault %+v: %d usage rows of org1 written for the new day", f, got)
		}
		if sc := scope(t, r, "org2", "usage"); sc.Status != storage.StatusComplete || sc.Counts.Created == 0 {
			t.Errorf("fault %+v: org2 usage %s created %d, want complete with the new day's rows", f, sc.Status, sc.Counts.Created)
		}
		if got := e.count(`SELECT count(*) FROM usage WHERE organization_id = 'org1'`); got != small.Databases+1 {
			t.Errorf("fault %+v: org1 has %d usage rows, want the first day's %d", f, got, small.Databases+1)
		}
		if before == e.str(fingerprint) {
			t.Errorf("fault %+v: org2's new day was not written either", f)
		}
	}
}

// Hostile values travel intact: SQL metacharacters, NUL bytes and invalid
// UTF-8 are stored as the API sent them (invalid UTF-8 as JSON decodes
// it), and nothing crashes. A value past api.max_field_bytes (a 10 MB
// username) fails its scope, class decode, naming the key and the size,
// and writes nothing of it; the other org's scope completes.
func TestHostileMemberValuesAreStoredIntact(t *testing.T) {
	e := newEnv(t, small)
	long := strings.Repeat("a", 10<<20)
	sqlish := `x'); DROP TABLE users; --`
	e.sim.Inject(turso.RouteMembers, "org1", tursotest.Fault{Body: `{"members":[{"username":"` + long + `","role":"member","email":"big@x.io"}]}`})
	r := e.pass()
	sc := scope(t, r, "org1", "members")
	if sc.Status != storage.StatusFailed || sc.ErrorClass != "decode" || !strings.Contains(sc.Error, `"username"`) ||
		!strings.Contains(sc.Error, "longer than 65536 bytes") || !strings.Contains(sc.Error, "api.max_field_bytes") {
		t.Fatalf("members with a 10 MB username: %s/%s %s; want failed/decode naming the key and the cap", sc.Status, sc.ErrorClass, sc.Error)
	}
	if n := e.count(`SELECT count(*) FROM role_assignments WHERE organization_id = 'org1' AND source = 'members'`); n != 0 {
		t.Errorf("a refused answer wrote %d role assignments", n)
	}
	if other := scope(t, r, "org2", "members"); other.Status != storage.StatusComplete {
		t.Errorf("org2 members: %s %s", other.Status, other.Error)
	}

	body := `{"members":[{"username":"` + strings.Repeat("b", 60<<10) + `","role":"member","email":"` + sqlish + `@x.io"},` +
		`{"username":"nul\u0000byte","role":"admin","email":"\u00ff\ufffd@y.io"}]}`
	e.sim.ClearFaults()
	e.sim.Inject(turso.RouteMembers, "org1", tursotest.Fault{Body: body})
	r = e.pass()
	if sc := scope(t, r, "org1", "members"); sc.Status != storage.StatusComplete || sc.Counts.Created != 2 {
		t.Fatalf("members %s created %d (%s), want complete with 2", sc.Status, sc.Counts.Created, sc.Error)
	}
	if got := e.count(`SELECT length(user_id) FROM role_assignments WHERE organization_id = 'org1' AND role_id = 'member' AND source = 'members' AND deleted_at IS NULL`); got != 60<<10 {
		t.Errorf("the 60 KiB username (under the cap) was stored with length %d", got)
	}
	if got := e.str(`SELECT email FROM users WHERE email LIKE 'x''%'`); got != strings.ToLower(sqlish)+"@x.io" && got != sqlish+"@x.io" {
		t.Errorf("SQL metacharacters stored as %q", got)
	}
	if got := e.count(`SELECT count(*) FROM users`); got == 0 {
		t.Errorf("the users table is gone")
	}
	if got := e.str(`SELECT user_id FROM role_assignments WHERE organization_id = 'org1' AND role_id = 'admin' AND source = 'members' AND deleted_at IS NULL`); got != "nul\x00byte" {
		t.Errorf("a NUL byte in a username was stored as %q", got)
	}
}

// millionMembers is a members answer of n members, built without holding
// more than the body itself.
func millionMembers(n int) string {
	var b strings.Builder
	b.Grow(n * 80)
	b.WriteString(`{"members":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"username":"h%07d","role":"member","email":"h%07d@example.com"}`, i, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestMillionMembersInOneResponse sends 1,000,000 members in one members
// answer. Past the response cap it is a clean decode failure that changes
// nothing; under it (TURSYNC_HOSTILE_FULL=1, run by .ci/run) every member
// is stored.
func TestMillionMembersInOneResponse(t *testing.T) {
	const n = 1_000_000
	body := millionMembers(n)
	e := newEnv(t, small)
	e.pass()
	before := e.snapshot(entityTables...)
	e.maxBody = 16 << 20
	e.sim.Inject(turso.RouteMembers, "org1", tursotest.Fault{Body: body})
	r := e.pass()
	sc := scope(t, r, "org1", "members")
	if sc.Status != storage.StatusFailed || sc.ErrorClass != "decode" || !strings.Contains(sc.Error, "cap") {
		t.Fatalf("members of a %d MB answer over a 16 MiB cap: %s/%s %s; want failed/decode naming the cap", len(body)>>20, sc.Status, sc.ErrorClass, sc.Error)
	}
	if got := e.snapshot(entityTables...); got != before {
		t.Errorf("a refused answer changed the mirror")
	}
	if other := scope(t, r, "org2", "members"); other.Status != storage.StatusComplete {
		t.Errorf("org2 members: %s", other.Status)
	}
	if os.Getenv("TURSYNC_HOSTILE_FULL") != "1" {
		return
	}
	e.maxBody = 0 // the default cap holds the whole answer
	r = e.pass()
	if sc := scope(t, r, "org1", "members"); sc.Status != storage.StatusComplete || sc.Counts.Created != n {
		t.Fatalf("members: %s created %d (%s), want complete with %d", sc.Status, sc.Counts.Created, sc.Error, n)
	}
	if got := e.count(`SELECT count(*) FROM role_assignments WHERE organization_id = 'org1' AND source = 'members' AND deleted_at IS NULL`); got != n {
		t.Errorf("live memberships %d, want %d", got, n)
	}
}

// TestDeeplyNestedAuditData sends audit events whose data nests arrays
// 5,000 deep (stored intact) and 100,000 deep (past encoding/json's depth
// limit: a clean decode failure of the audit scope, nothing else affected).
func TestDeeplyNestedAuditData(t *testing.T) {
	e := newEnv(t, small)
	e.pass()
	nested := func(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }
	event := func(data string) string {
		at := e.clk.Now().UTC().Format(time.RFC3339)
		return `{"audit_logs":[{"code":"db-create","message":"","origin":"cli","author":"x","created_at":"` + at + `","data":` + data +
			`}],"pagination":{"page":1,"page_size":100,"total_pages":1,"total_rows":1}}`
	}
	deep := nested(5000)
	e.sim.Inject(turso.RouteAuditLogs, "org1", tursotest.Fault{Body: event(deep)})
	r := e.pass()
	if sc := scope(t, r, "org1", "audit_logs"); sc.Status != storage.StatusComplete || sc.Counts.Created != 1 {
		t.Fatalf("5,000-deep data: %s created %d (%s)", sc.Status, sc.Counts.Created, sc.Error)
	}
	if got := e.count(`SELECT count(*) FROM audit_logs WHERE organization_id = 'org1' AND data = ?`, deep); got != 1 {
		t.Errorf("5,000-deep data not stored intact")
	}
	e.sim.ClearFaults()
	before := e.count(`SELECT count(*) FROM audit_logs`)
	e.sim.Inject(turso.RouteAuditLogs, "org1", tursotest.Fault{Body: event(nested(100_000))})
	r = e.pass()
	if sc := scope(t, r, "org1", "audit_logs"); sc.Status != storage.StatusFailed || sc.ErrorClass != "decode" {
		t.Fatalf("100,000-deep data: %s/%s %s, want failed/decode", sc.Status, sc.ErrorClass, sc.Error)
	}
	if got := e.count(`SELECT count(*) FROM audit_logs`); got != before {
		t.Errorf("audit rows %d after a refused page, want %d", got, before)
	}
	if sc := scope(t, r, "org2", "audit_logs"); sc.Status != storage.StatusComplete {
		t.Errorf("org2 audit logs: %s", sc.Status)
	}
}

// One answer that lists a member twice with two roles: the first is kept,
// the scope completes, a warning says how many rows repeated a key, and
// tursync_repeated_rows_total counts them.
func TestRepeatedMemberKeepsTheFirst(t *testing.T) {
	e := newEnv(t, small)
	reg := prometheus.NewRegistry()
	e.opts.Metrics = metrics.New(reg, "test", "go")
	e.sim.Inject(turso.RouteMembers, "org1", tursotest.Fault{Body: `{"members":[` +
		`{"username":"twice","role":"admin","email":"twice@x.io"},{"username":"once","role":"member","email":"once@x.io"},` +
		`{"username":"twice","role":"member","email":"twice@x.io"},{"username":"twice","role":"viewer","email":"twice@x.io"}]}`})
	r := e.pass()
	if sc := scope(t, r, "org1", "members"); sc.Status != storage.StatusComplete || sc.Counts.Created != 2 {
		t.Fatalf("members %s created %d (%s), want complete with 2", sc.Status, sc.Counts.Created, sc.Error)
	}
	if got := e.str(`SELECT role_id FROM role_assignments WHERE organization_id = 'org1' AND user_id = 'twice' AND source = 'members'`); got != "admin" {
		t.Errorf("the repeated member has role %q, want the first answer's admin", got)
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"msg":"the answer repeats keys: the first row of each was kept, the repeats dropped"`) ||
		!strings.Contains(logs, `"org":"org1","resource":"members","repeated":2}`) {
		t.Errorf("no warning with the count:\n%s", e.logs.String())
	}
	if got := testmetrics.Value(t, reg, "tursync_repeated_rows_total", map[string]string{"resource": "members"}); got != 2 {
		t.Errorf("tursync_repeated_rows_total{resource=members} = %v, want 2", got)
	}
}
