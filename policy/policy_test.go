package policy_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/policy"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// world is a mirror synced from the simulator, with a clock both share.
type world struct {
	t     *testing.T
	clk   *testclock.Clock
	sim   *tursotest.Server
	url   string
	store *storage.Store
}

func newWorld(t *testing.T, size tursotest.Size) *world {
	t.Helper()
	clk := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 11, Size: size, Token: "tok", Now: clk.Now})
	m := testmirror.Open(t, storage.Options{Now: clk.Now})
	w := &world{t: t, clk: clk, sim: sim, url: url, store: m.Store}
	w.pass()
	return w
}

// pass syncs the account and evaluates the policies under its lease.
func (w *world) pass(policies ...policy.Policy) []policy.Outcome {
	w.t.Helper()
	return w.passWith(policy.Evaluate, policies...)
}

// evaluator is policy.Evaluate or policy.AfterPass.
type evaluator func(ctx context.Context, st policy.Store, account string, policies []policy.Policy, now func() time.Time) []policy.Outcome

func (w *world) passWith(evaluate evaluator, policies ...policy.Policy) []policy.Outcome {
	w.t.Helper()
	c, err := turso.NewClient(turso.Options{BaseURL: w.url, Token: turso.NewSecret("tok"), Now: w.clk.Now})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []policy.Outcome
	res := tsync.New(tsync.MirrorOf(w.store), tsync.Options{Now: w.clk.Now, AfterPass: func(ctx context.Context, account string, _ tsync.Result) {
		out = evaluate(ctx, w.store.Policies(), account, policies, w.clk.Now)
	}}).SyncAccount(context.Background(), tsync.Account{ID: "acme", API: c})
	if res.Status != storage.StatusComplete {
		w.t.Fatalf("pass: %s %v", res.Status, res.Err)
	}
	w.clk.Advance(time.Minute)
	return out
}

// subjects lists a policy's open violations as "org type id", sorted.
func (w *world) subjects(name string) []string {
	w.t.Helper()
	vs, err := w.store.Policies().OpenViolations(context.Background(), name)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, v.Org+" "+v.SubjectType+" "+v.SubjectID)
	}
	sort.Strings(out)
	return out
}

func (w *world) count(q string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.store.DB().QueryRow(q, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// Each builtin finds what the simulated account holds that breaks it, and
// nothing when its parameters allow everything.
func TestBuiltins(t *testing.T) {
	w := newWorld(t, tursotest.Size{Orgs: 2, Members: 6, Invites: 3, Databases: 12, Groups: 3, APITokens: 4, AuditEvents: 4})
	org := w.sim.Orgs()[0]
	w.sim.AddMember(org, tursotest.Member{Username: "outsider", Role: "admin", Email: "eve@elsewhere.net"})
	w.sim.UpdateDatabase(org, w.sim.Databases(org)[0].Name, func(d *tursotest.Database) { d.DeleteProtection = true })
	w.pass()

	expect := func(name string, params map[string]any, check func(got []string) string) {
		t.Helper()
		p := policy.Policy{Name: name, Severity: policy.Warning, Builtin: strings.SplitN(name, ":", 2)[0], Params: params}
		if err := p.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := w.pass(p)
		if len(out) != 1 || out[0].Err != nil {
			t.Fatalf("%s: %+v", name, out)
		}
		if msg := check(w.subjects(name)); msg != "" {
			t.Errorf("%s: %s", name, msg)
		}
	}
	none := func(got []string) string {
		if len(got) > 0 {
			return "want no violation, got " + strings.Join(got, "; ")
		}
		return ""
	}
	count := func(q string, args ...any) func([]string) string {
		want := w.count(q, args...)
		return func(got []string) string {
			if want == 0 || len(got) != want {
				return "got " + strings.Join(got, "; ") + ", want as many as " + q
			}
			return ""
		}
	}
	// The simulator's invites date from before 2026-11-20.
	expect("stale_invites", map[string]any{"days": 1}, count(`SELECT count(*) FROM invites WHERE deleted_at IS NULL`))
	expect("stale_invites:none", map[string]any{"days": 100000}, none)
	expect("old_api_tokens", map[string]any{"days": 1}, count(`SELECT count(*) FROM api_tokens WHERE deleted_at IS NULL`))
	expect("old_api_tokens:none", map[string]any{"days": 100000}, none)
	expect("owner_count", map[string]any{"min": 2}, count(`SELECT count(*) FROM organizations WHERE deleted_at IS NULL`))
	expect("owner_count:none", nil, none)
	expect("members_outside_domains", map[string]any{"domains": []any{"example.com"}}, func(got []string) string {
		if len(got) != 1 || got[0] != org+" member outsider" {
			return "want only the outsider, got " + strings.Join(got, "; ")
		}
		return ""
	})
	expect("database_outside_locations", map[string]any{"locations": []any{"nowhere"}}, count(`SELECT count(*) FROM databases WHERE deleted_at IS NULL`))
	expect("database_outside_locations:none", map[string]any{"locations": tursotestRegions(w)}, none)
	db0 := w.sim.Databases(org)[0]
	expect("database_outside_locations:override", map[string]any{"locations": tursotestRegions(w),
		"overrides": map[string]any{org + "/" + db0.Group: []any{"nowhere"}}},
		count(`SELECT count(*) FROM databases WHERE deleted_at IS NULL AND organization_id = ? AND group_name = ?`, org, db0.Group))
	// A database with a replica: only the replica's location is outside
	// when its primary is allowed (the path that builds the set).
	db1, allowed := w.sim.Databases(org)[1], tursotestRegions(w)
	w.sim.UpdateDatabase(org, db1.Name, func(d *tursotest.Database) { d.Regions = append(d.Regions, "replica-land") })
	w.pass()
	expect("database_outside_locations:replica", map[string]any{"locations": allowed}, func(got []string) string {
		vs, _ := w.store.Policies().OpenViolations(context.Background(), "database_outside_locations:replica")
		if len(got) != 1 || got[0] != org+" database "+db1.DbID || !strings.Contains(vs[0].Details, `"outside":"[\"replica-land\"]"`) {
			return "want only the database with the replica, outside [replica-land], got " + strings.Join(got, "; ")
		}
		return ""
	})
	expect("unprotected_databases", nil, count(`SELECT count(*) FROM databases WHERE deleted_at IS NULL AND delete_protection = 0`))
	expect("unprotected_databases:glob", map[string]any{"name_glob": db0.Name}, func(got []string) string {
		// The org whose db0 was protected above has none of that name.
		if len(got) != 1 || strings.HasPrefix(got[0], org+" ") {
			return "want only the other org's database of that name, got " + strings.Join(got, "; ")
		}
		return ""
	})
	// Every org of the simulator has usage and a plan with four quotas.
	expect("usage_over_quota", map[string]any{"percent": 0}, count(`SELECT 4 * count(*) FROM organizations o JOIN plans p ON p.account_id = o.account_id
		AND p.organization_id = o.id AND p.id = o.pricing_plan AND p.quota_databases > 0 AND p.quota_rows_read > 0 AND p.quota_rows_written > 0
		AND p.quota_storage_bytes > 0 WHERE o.deleted_at IS NULL`))
	expect("usage_over_quota:none", nil, none)
	expect("scope_stale:none", nil, none)
	// An hour later, with no pass since, every scope is older than 30m.
	w.clk.Advance(time.Hour)
	stale := policy.Policy{Name: "scope_stale", Severity: policy.Warning, Builtin: "scope_stale", Params: map[string]any{"max_age": "30m"}}
	if out := policy.Evaluate(context.Background(), w.store.Policies(), "acme", []policy.Policy{stale}, w.clk.Now); out[0].Err != nil {
		t.Fatal(out[0].Err)
	}
	if got, want := len(w.subjects("scope_stale")), w.count(`SELECT count(*) FROM sync_health`); got != want || want == 0 {
		t.Errorf("scope_stale an hour on: %d violations, want every scope (%d)", got, want)
	}
	expect("unused_databases", nil, none) // no usage history that old yet
}

// unused_databases judges a database by the usage the mirror kept: after
// 31 days, those whose counters did not move are unused, the one that was
// read is not.
func TestUnusedDatabases(t *testing.T) {
	w := newWorld(t, tursotest.Size{Orgs: 1, Members: 2, Invites: 1, Databases: 4, Groups: 1, APITokens: 1, AuditEvents: 2})
	org := w.sim.Orgs()[0]
	dbs := w.sim.Databases(org)
	w.clk.Advance(31 * 24 * time.Hour)
	w.sim.AddUsage(org, dbs[0].Name, 10, 0)
	unused := policy.Policy{Name: "unused", Severity: policy.Info, Builtin: "unused_databases", Params: map[string]any{"days": 30}}
	if out := w.pass(unused); out[0].Err != nil {
		t.Fatal(out[0].Err)
	}
	got := w.subjects("unused")
	if len(got) != len(dbs)-1 || strings.Contains(strings.Join(got, ","), dbs[0].DbID) {
		t.Errorf("unused after 31 days: %v; want every database but %s", got, dbs[0].Name)
	}
}

func tursotestRegions(w *world) []any {
	var out []any
	rows, err := w.store.DB().Query(`SELECT DISTINCT value FROM (SELECT value FROM databases, json_each(databases.regions) UNION SELECT primary_region FROM databases
		UNION SELECT value FROM "groups", json_each("groups".locations))`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

// A violation seen again keeps its first_seen_at, one no longer returned
// is resolved (its row kept), one that returns is a new row; a policy
// whose query fails resolves nothing.
func TestViolationLifecycle(t *testing.T) {
	w := newWorld(t, tursotest.Size{Orgs: 1, Members: 3, Invites: 3, Databases: 2, Groups: 1, APITokens: 1, AuditEvents: 2})
	org := w.sim.Orgs()[0]
	stale := policy.Policy{Name: "stale", Severity: policy.Critical, Builtin: "stale_invites", Params: map[string]any{"days": 1}}
	w.pass(stale) // 12:01
	invs := w.sim.Invites(org)
	if got := w.subjects("stale"); len(got) != 3 {
		t.Fatalf("open after the first evaluation: %v", got)
	}
	w.sim.RevokeInvite(org, invs[0].Email)
	out := w.pass(stale) // 12:02
	if len(out[0].Recorded.Resolved) != 1 || out[0].Recorded.Resolved[0].SubjectID != strings.ToLower(invs[0].Email) || len(out[0].Recorded.Opened) != 0 {
		t.Errorf("after a revoke: opened %v, resolved %v", out[0].Recorded.Opened, out[0].Recorded.Resolved)
	}
	if n := w.count(`SELECT count(*) FROM policy_violations WHERE resolved_at IS NOT NULL AND subject_id = lower(?)`, invs[0].Email); n != 1 {
		t.Errorf("the resolved violation: %d rows, want it kept as resolved", n)
	}
	if n := w.count(`SELECT count(*) FROM policy_violations WHERE resolved_at IS NULL AND first_seen_at = '2026-11-20T12:01:00Z'`); n != 2 {
		t.Errorf("%d violations kept their first_seen_at, want 2", n)
	}
	// The resolved one was last seen by the evaluation before.
	if n := w.count(`SELECT count(*) FROM policy_violations WHERE resolved_at = '2026-11-20T12:02:00Z' AND last_seen_at = '2026-11-20T12:01:00Z'`); n != 1 {
		t.Errorf("the resolved violation's last_seen_at is not the last evaluation that returned it")
	}
	// last_seen_at moves at most every storage.LastSeenEvery.
	w.clk.Advance(storage.LastSeenEvery)
	w.pass(stale) // 13:03
	if n := w.count(`SELECT count(*) FROM policy_violations WHERE resolved_at IS NULL AND first_seen_at = '2026-11-20T12:01:00Z' AND last_seen_at = '2026-11-20T13:03:00Z'`); n != 2 {
		t.Errorf("%d open violations moved their last_seen_at after an hour, want 2", n)
	}
	// A failing policy resolves nothing and says why.
	broken := policy.Policy{Name: "stale", Severity: policy.Critical, SQL: `SELECT organization_id, 'x' AS subject_type FROM invites`}
	out = w.pass(broken)
	if out[0].Err == nil || !strings.Contains(out[0].Err.Error(), "subject_id") {
		t.Errorf("a query without subject_id: %v", out[0].Err)
	}
	var status, errText string
	var open int
	if err := w.store.DB().QueryRow(`SELECT status, error, open FROM policy_status WHERE policy = 'stale'`).Scan(&status, &errText, &open); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || !strings.Contains(errText, "subject_id") || open != 2 || len(w.subjects("stale")) != 2 {
		t.Errorf("after a failed evaluation: status %s (%s), open %d, violations %v; want failed and the 2 still open", status, errText, open, w.subjects("stale"))
	}
	// An invite that comes back is a new violation.
	w.sim.CreateInvite(org, invs[0].Email, "viewer")
	w.clk.Advance(48 * time.Hour)
	out = w.pass(stale)
	if len(out[0].Recorded.Opened) != 1 || w.count(`SELECT count(*) FROM policy_violations WHERE subject_id = lower(?)`, invs[0].Email) != 2 {
		t.Errorf("a returning violation: opened %v", out[0].Recorded.Opened)
	}
	var details map[string]any
	vs, _ := w.store.Policies().OpenViolations(context.Background(), "stale")
	if err := json.Unmarshal([]byte(vs[0].Details), &details); err != nil || details["role"] == nil || details["age_days"] == nil {
		t.Errorf("details %s: want the query's other columns", vs[0].Details)
	}
}

// A user's statement is checked as a read, sees p.account and p.now, and
// keeps only rows of the account's orgs.
func TestUserSQL(t *testing.T) {
	for _, bad := range []policy.Policy{
		{Name: "w", Severity: policy.Info, SQL: `DELETE FROM invites`},
		{Name: "w", Severity: policy.Info, SQL: `SELECT 1; SELECT 2`},
		{Name: "w", Severity: "urgent", SQL: `SELECT 1`},
		{Name: "w", Severity: policy.Info},
		{Name: "w", Severity: policy.Info, Builtin: "stale_invites", Params: map[string]any{"weeks": 2}},
		{Name: "w", Severity: policy.Info, Builtin: "members_outside_domains"},
		{Name: "w", Severity: policy.Info, Builtin: "no_such"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
	w := newWorld(t, tursotest.Size{Orgs: 2, Members: 3, Invites: 1, Databases: 3, Groups: 1, APITokens: 1, AuditEvents: 2})
	p := policy.Policy{Name: "sleepers", Severity: policy.Info,
		SQL: `SELECT organization_id, 'database' AS subject_type, id AS subject_id, name, p.now AS checked_at FROM databases, p WHERE account_id = p.account
		      UNION ALL SELECT 'someone-elses-org', 'database', 'x', 'x', p.now FROM p`}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	out := w.pass(p)
	if out[0].Err != nil {
		t.Fatal(out[0].Err)
	}
	got := w.subjects("sleepers")
	if len(got) != w.count(`SELECT count(*) FROM databases`) || strings.Contains(strings.Join(got, ","), "someone-elses-org") {
		t.Errorf("violations %v: want every database of the account's orgs and none of another's", got)
	}
}

// After a pass that wrote nothing, a builtin's last evaluation stands
// (its query would read what it read); a pass that wrote, new parameters,
// an hour gone by, a user's statement, a builtin that reads the record of
// passes, and tursync policy check (Evaluate) all run the query.
func TestLastEvaluationStands(t *testing.T) {
	w := newWorld(t, tursotest.Size{Orgs: 2, Members: 3, Invites: 1, Databases: 6, Groups: 1, APITokens: 1, AuditEvents: 2})
	org := w.sim.Orgs()[0]
	unprotected := policy.Policy{Name: "unprotected", Severity: policy.Warning, Builtin: "unprotected_databases"}
	stale := policy.Policy{Name: "stale", Severity: policy.Warning, Builtin: "scope_stale"}
	mine := policy.Policy{Name: "mine", Severity: policy.Info,
		SQL: `SELECT organization_id, 'database' AS subject_type, id AS subject_id FROM databases WHERE deleted_at IS NULL AND delete_protection = 0`}
	all := []policy.Policy{unprotected, stale, mine}
	stood := func(out []policy.Outcome) (names []string) {
		t.Helper()
		for _, o := range out {
			if o.Err != nil {
				t.Fatalf("%s: %v", o.Policy.Name, o.Err)
			}
			if o.Stood {
				names = append(names, o.Policy.Name)
			}
		}
		return names
	}
	expect := func(step string, out []policy.Outcome, want ...string) {
		t.Helper()
		if got := stood(out); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: stood %v, want %v", step, got, want)
		}
	}
	unprotectedNow := `SELECT count(*) FROM databases WHERE deleted_at IS NULL AND delete_protection = 0`

	expect("first evaluation", w.passWith(policy.AfterPass, all...))
	out := w.passWith(policy.AfterPass, all...)
	expect("unchanged pass", out, "unprotected")
	if want := w.count(unprotectedNow); out[0].Recorded.Open != want || want == 0 {
		t.Errorf("the standing evaluation says %d open, want %d", out[0].Recorded.Open, want)
	}

	// The pass that writes the protection runs the query, which resolves it.
	db := w.sim.Databases(org)[0]
	w.sim.UpdateDatabase(org, db.Name, func(d *tursotest.Database) { d.DeleteProtection = true })
	out = w.passWith(policy.AfterPass, all...)
	expect("a pass that wrote a row", out)
	if got, want := len(w.subjects("unprotected")), w.count(unprotectedNow); got != want || out[0].Recorded.Open != want {
		t.Errorf("after the pass that wrote: %d open (outcome %d), want %d", got, out[0].Recorded.Open, want)
	}
	expect("unchanged again", w.passWith(policy.AfterPass, all...), "unprotected")

	// New parameters are another definition.
	named := unprotected
	named.Params = map[string]any{"name_glob": db.Name}
	expect("new parameters", w.passWith(policy.AfterPass, named))
	expect("the same parameters again", w.passWith(policy.AfterPass, named), "unprotected")

	// The evaluation stands for at most an hour.
	w.clk.Advance(policy.StandsFor)
	expect("an hour on", w.passWith(policy.AfterPass, named))

	// tursync policy check always runs the query.
	expect("policy check", w.passWith(policy.Evaluate, named))

	// A pass that writes only usage counters runs it too.
	expect("unchanged before usage", w.passWith(policy.AfterPass, named), "unprotected")
	w.sim.AddUsage(org, db.Name, 5, 0)
	expect("a pass that wrote usage", w.passWith(policy.AfterPass, named))
}
