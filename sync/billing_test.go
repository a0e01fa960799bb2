package sync_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tursync/tursync/daemon"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// passOf runs one sync of "acme" over the given resources.
func (e *env) passOf(resources []string, opts ...func(*tsync.Options)) tsync.Result {
	e.t.Helper()
	o := e.opts
	for _, f := range opts {
		f(&o)
	}
	res := tsync.New(tsync.MirrorOf(e.store), o).SyncAccount(context.Background(), tsync.Account{ID: "acme", Resources: resources, API: e.client(testToken)})
	e.clk.Advance(time.Minute)
	return res
}

var billingSize = tursotest.Size{Orgs: 2, Members: 6, Invites: 2, Databases: 30, Groups: 2, APITokens: 2, AuditEvents: 5}

// The billing resources and the token's user: rows as the API has them,
// organizations.pricing_plan from the subscription, and changes logged.
func TestBillingAndAccountUser(t *testing.T) {
	e := newEnv(t, billingSize)
	if r := e.pass(); r.Status != storage.StatusComplete {
		t.Fatalf("first pass: %s %v", r.Status, r.Err)
	}
	u := e.sim.User()
	if got := e.str(`SELECT username || '|' || email || '|' || plan FROM account_users WHERE account_id = 'acme' AND deleted_at IS NULL`); got != u.Username+"|"+u.Email+"|"+u.Plan {
		t.Errorf("account user %q, want %s|%s|%s", got, u.Username, u.Email, u.Plan)
	}
	if got := e.str(`SELECT status FROM sync_scopes WHERE organization_id = '' AND resource = 'account_users'`); got != storage.StatusComplete {
		t.Errorf("account_users scope %q, want complete, recorded as organization ''", got)
	}
	for _, org := range e.sim.Orgs() {
		if got := e.str(`SELECT pricing_plan FROM organizations WHERE id = ?`, org); got != "scaler" {
			t.Errorf("%s pricing_plan %q, want scaler", org, got)
		}
		if got, want := e.count(`SELECT count(*) FROM plans WHERE organization_id = ? AND deleted_at IS NULL`, org), len(tursotest.Plans); got != want {
			t.Errorf("%s plans %d, want %d", org, got, want)
		}
		if got, want := e.count(`SELECT count(*) FROM invoices WHERE organization_id = ? AND deleted_at IS NULL`, org), len(e.sim.Invoices(org)); got != want {
			t.Errorf("%s invoices %d, want %d", org, got, want)
		}
		if got := e.count(`SELECT count(*) FROM invoices WHERE organization_id = ? AND paid = 0`, org); got != 1 {
			t.Errorf("%s unpaid invoices %d, want 1", org, got)
		}
	}
	if got := e.str(`SELECT quota_databases IS NULL FROM plans WHERE id = 'pro' AND organization_id = 'org1'`); got != "1" {
		t.Errorf("pro's database quota is absent in the API: want NULL, got %q", got)
	}
	since := e.str(`SELECT plan_since FROM subscriptions WHERE organization_id = 'org1'`)

	// The org moves to pro, pays its invoice, and the token changes hands.
	e.sim.UpdateOrg("org1", func(o *tursotest.Organization) { o.PlanID = "pro" })
	unpaid := e.sim.Invoices("org1")[len(e.sim.Invoices("org1"))-1]
	e.sim.PayInvoice("org1", unpaid.Number, e.clk.Now())
	e.sim.SetUser(tursotest.User{Username: "new-owner", Email: "New@Example.com", Plan: "pro"})
	if r := e.pass(); r.Status != storage.StatusComplete {
		t.Fatalf("second pass: %s %v", r.Status, r.Err)
	}
	if got := e.str(`SELECT pricing_plan FROM organizations WHERE id = 'org1'`); got != "pro" {
		t.Errorf("pricing_plan after the upgrade %q, want pro", got)
	}
	if got := e.str(`SELECT plan_since FROM subscriptions WHERE organization_id = 'org1'`); got == since || got == "" {
		t.Errorf("plan_since %q did not move from %q with the plan", got, since)
	}
	if got := e.str(`SELECT json_extract(changes, '$.plan.old') || '>' || json_extract(changes, '$.plan.new') FROM change_events
		WHERE entity = 'subscriptions' AND entity_id = 'org1' AND op = 'updated'`); got != "scaler>pro" {
		t.Errorf("subscription change event %q, want scaler>pro", got)
	}
	if got := e.count(`SELECT count(*) FROM change_events WHERE entity = 'invoices' AND entity_id = ? AND op = 'updated'`, "org1/"+unpaid.Number); got != 1 {
		t.Errorf("%d update events for the paid invoice, want 1", got)
	}
	if got := e.str(`SELECT deleted_reason FROM account_users WHERE id = ?`, u.Username); got != "removed" {
		t.Errorf("the former token owner's row: deleted_reason %q, want removed", got)
	}
	if got := e.str(`SELECT email FROM account_users WHERE id = 'new-owner' AND deleted_at IS NULL`); got != "new@example.com" {
		t.Errorf("the new owner's email %q, want it normalized", got)
	}
	if got := e.str(`SELECT organization_id IS NULL FROM change_events WHERE entity = 'account_users' AND op = 'created'`); got != "1" {
		t.Errorf("an account user's change event belongs to no org")
	}
}

// A plan- or role-gated billing answer makes the scope unavailable: the
// pass is complete and nothing is tombstoned.
func TestGatedBillingIsUnavailable(t *testing.T) {
	e := newEnv(t, billingSize)
	e.pass()
	before := e.count(`SELECT count(*) FROM invoices WHERE deleted_at IS NULL`)
	e.sim.Inject(turso.RouteInvoices, "org1", tursotest.Fault{Status: 402})
	e.sim.Inject(turso.RouteCurrentUser, "", tursotest.Fault{Status: 403})
	r := e.pass()
	if r.Status != storage.StatusComplete {
		t.Fatalf("pass %s (%v): unavailable scopes are not failures", r.Status, r.Err)
	}
	if sc := scope(t, r, "org1", schema.ResInvoices); sc.Status != storage.StatusUnavailable || sc.ErrorClass != "plan" {
		t.Errorf("invoices %s/%s, want unavailable/plan", sc.Status, sc.ErrorClass)
	}
	if sc := scope(t, r, "", schema.ResAccountUsers); sc.Status != storage.StatusUnavailable || sc.ErrorClass != "forbidden" {
		t.Errorf("account_users %s/%s, want unavailable/forbidden", sc.Status, sc.ErrorClass)
	}
	if got := e.count(`SELECT count(*) FROM invoices WHERE deleted_at IS NULL`); got != before {
		t.Errorf("live invoices %d, want %d kept", got, before)
	}
	if got := e.count(`SELECT count(*) FROM account_users WHERE deleted_at IS NULL`); got != 1 {
		t.Errorf("live account users %d, want the one kept", got)
	}
}

// database_details spends at most its budget per pass, least recently
// refreshed first, covers every database over passes, keeps what a pass
// did not refresh, and goes with a deleted database.
func TestDatabaseDetailsBudget(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 1, Members: 3, Databases: 25, Groups: 2})
	withDetails := append(slices.Clone(schema.DefaultResources), schema.ResDatabaseDetails)
	budget := func(o *tsync.Options) { o.DetailsBudget = 20 } // ten databases a pass
	e.pass()
	refreshed := map[string]int{}
	for pass := 1; pass <= 3; pass++ {
		e.sim.ResetLog()
		r := e.passOf(withDetails, budget)
		if sc := scope(t, r, "org1", schema.ResDatabaseDetails); sc.Status != storage.StatusComplete {
			t.Fatalf("pass %d: details %s %s", pass, sc.Status, sc.Error)
		}
		calls := 0
		for _, req := range e.sim.Requests() {
			if req.Route == turso.RouteDatabaseConfig || req.Route == turso.RouteDatabaseInstances {
				calls++
			}
		}
		want := min(20, 2*(25-10*(pass-1)))
		if pass == 3 {
			want = 20 // the last five never refreshed, then the five oldest
		}
		if calls != want {
			t.Errorf("pass %d: %d detail requests, want %d", pass, calls, want)
		}
		rows, err := e.db().Query(`SELECT id FROM database_details WHERE refreshed_at = (SELECT max(refreshed_at) FROM database_details)`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			rows.Scan(&id)
			refreshed[id]++
		}
		rows.Close()
	}
	if len(refreshed) != 25 {
		t.Errorf("%d databases refreshed over three passes, want all 25", len(refreshed))
	}
	if got := e.count(`SELECT count(*) FROM database_details WHERE deleted_at IS NULL`); got != 25 {
		t.Errorf("%d live details, want 25: a pass must keep what it did not refresh", got)
	}
	if got := e.count(`SELECT count(*) FROM database_details_freshness WHERE refreshed_at IS NULL`); got != 0 {
		t.Errorf("%d databases never refreshed in the freshness view", got)
	}
	gone := e.sim.Databases("org1")[3]
	e.sim.DeleteDatabase("org1", gone.Name)
	e.passOf(withDetails, budget)
	if got := e.str(`SELECT deleted_reason FROM database_details WHERE id = ?`, gone.DbID); got != "removed" {
		t.Errorf("details of a deleted database: deleted_reason %q, want removed", got)
	}
	if got := e.count(`SELECT count(*) FROM change_events WHERE entity = 'database_details' AND op = 'deleted'`); got != 1 {
		t.Errorf("%d deleted events for details, want 1", got)
	}
	if got := e.count(`SELECT count(*) FROM database_details WHERE deleted_at IS NULL`); got != 24 {
		t.Errorf("%d live details, want 24", got)
	}
	// Without the resource, passes make no detail request.
	e.sim.ResetLog()
	e.pass()
	for _, req := range e.sim.Requests() {
		if req.Route == turso.RouteDatabaseConfig {
			t.Fatalf("a default pass asked for a database's configuration")
		}
	}
}

// The account's own scopes have no org: their release command names none.
func TestReleaseCommandOfTheAccountsOwnScopes(t *testing.T) {
	if got := daemon.ReleaseCommand("acme", ""); got != "tursync sync --config CONFIG --force-deletes --account acme" {
		t.Errorf("release of account scopes: %q", got)
	}
	if got := daemon.ReleaseCommand("acme", "org1"); got != "tursync sync --config CONFIG --force-deletes --account acme --org org1" {
		t.Errorf("release of an org: %q", got)
	}
}

// The first pass over an org already brings the details of the databases
// it finds, within the budget: they need not wait for the next pass.
func TestDatabaseDetailsOnTheFirstPass(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 1, Members: 3, Databases: 25, Groups: 2})
	withDetails := append(slices.Clone(schema.DefaultResources), schema.ResDatabaseDetails)
	r := e.passOf(withDetails, func(o *tsync.Options) { o.DetailsBudget = 20 })
	if r.Status != storage.StatusComplete {
		t.Fatalf("%s %v", r.Status, r.Err)
	}
	if got := e.count(`SELECT count(*) FROM database_details WHERE deleted_at IS NULL AND refreshed_at IS NOT NULL`); got != 10 {
		t.Errorf("%d databases with details after the first pass, want 10 (the budget)", got)
	}
	r = e.passOf(withDetails, func(o *tsync.Options) { o.DetailsBudget = 100 })
	if got := e.count(`SELECT count(*) FROM database_details WHERE deleted_at IS NULL`); got != 25 {
		t.Errorf("%d databases with details after the second pass, want all 25", got)
	}
}
