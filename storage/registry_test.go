package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// applyRows writes one complete scope of rows for an org ("" for the
// account's own resources) and returns it.
func applyRows(t *testing.T, st *storage.Store, account, org, resource string, rows ...schema.Row) *storage.Scope {
	t.Helper()
	ctx := context.Background()
	p, err := st.BeginPass(ctx, account, storage.PassOptions{Trigger: "manual", StartedAt: time.Now(), Guard: noGuard})
	if err != nil {
		t.Fatal(err)
	}
	staged, err := p.Org(org).Stage(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	sc := &storage.Scope{Resource: resource, Status: storage.StatusComplete, Rows: staged}
	if _, err := p.Org(org).Commit(ctx, []*storage.Scope{sc}); err != nil {
		t.Fatalf("apply %s of %q: %v", resource, org, err)
	}
	return sc
}

func str(t *testing.T, st *storage.Store, q string, args ...any) string {
	t.Helper()
	var s *string
	if err := st.DB().QueryRow(q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if s == nil {
		return "NULL"
	}
	return *s
}

func detail(id string, block bool) schema.Row {
	return schema.DatabaseDetail{OrganizationID: "org1", ID: id, Name: "db-" + id, BlockReads: block, AllowedIPs: "[]", AllowedVPCs: "[]", Instances: "[]"}
}

func database(id string) schema.Row {
	return schema.Database{OrganizationID: "org1", ID: id, Name: "db-" + id, Regions: "[]"}
}

// TestRegistryRules checks, through storage alone on file: and sqld, what
// the registry declares beyond the reconcile rules: a partial resource
// keeps what a pass did not refresh and stamps what it did, its rows go
// with their parent's, After statements derive columns in the same
// commit, and a per-account resource reconciles without an org.
func TestRegistryRules(t *testing.T) {
	for name, opener := range backends(t) {
		t.Run(name, func(t *testing.T) {
			clk := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
			st := opener(t, clk.Now)
			const acct = "acme"
			applyRows(t, st, acct, "org1", schema.ResDatabases, database("a"), database("b"), database("c"))
			applyRows(t, st, acct, "org1", schema.ResDatabaseDetails, detail("a", false), detail("b", false))
			first := str(t, st, `SELECT refreshed_at FROM database_details WHERE id = 'a'`)
			clk.Advance(time.Minute)

			// A pass that refreshes c alone keeps a and b, and stamps c.
			sc := applyRows(t, st, acct, "org1", schema.ResDatabaseDetails, detail("c", true))
			if sc.Counts.Deleted != 0 || sc.Status != storage.StatusComplete {
				t.Errorf("partial pass: %+v %s, want nothing deleted", sc.Counts, sc.Status)
			}
			if got := str(t, st, `SELECT count(*) FROM database_details WHERE deleted_at IS NULL`); got != "3" {
				t.Errorf("%s live details, want 3", got)
			}
			if a, c := str(t, st, `SELECT refreshed_at FROM database_details WHERE id = 'a'`), str(t, st, `SELECT refreshed_at FROM database_details WHERE id = 'c'`); a != first || c <= a {
				t.Errorf("refreshed_at a %s (want %s, untouched), c %s (want later)", a, first, c)
			}
			clk.Advance(time.Minute)
			// Refreshing a unchanged still stamps it: least recently
			// refreshed first depends on it.
			applyRows(t, st, acct, "org1", schema.ResDatabaseDetails, detail("a", false))
			if got := str(t, st, `SELECT refreshed_at FROM database_details WHERE id = 'a'`); got == first {
				t.Errorf("an unchanged refresh left refreshed_at at %s", got)
			}

			// b's database goes: its details go in the details' commit.
			applyRows(t, st, acct, "org1", schema.ResDatabases, database("a"), database("c"))
			applyRows(t, st, acct, "org1", schema.ResDatabaseDetails)
			if got := str(t, st, `SELECT deleted_reason FROM database_details WHERE id = 'b'`); got != "removed" {
				t.Errorf("details of a deleted database: %s, want removed", got)
			}
			if got := str(t, st, `SELECT count(*) FROM change_events WHERE entity = 'database_details' AND entity_id = 'org1/b' AND op = 'deleted'`); got != "1" {
				t.Errorf("%s deleted events for b's details, want 1", got)
			}

			// After: the subscription's plan becomes the org's pricing_plan.
			applyRows(t, st, acct, "org1", schema.ResOrganization, schema.Organization{ID: "org1", Name: "Org 1"})
			applyRows(t, st, acct, "org1", schema.ResSubscriptions, schema.Subscription{OrganizationID: "org1", Plan: "scaler", Name: "scaler"})
			if got := str(t, st, `SELECT pricing_plan FROM organizations WHERE id = 'org1'`); got != "scaler" {
				t.Errorf("pricing_plan %s, want scaler", got)
			}

			// A per-account resource: one row, replaced when the token's
			// owner changes, with events that belong to no org.
			applyRows(t, st, acct, "", schema.ResAccountUsers, schema.AccountUser{ID: "ann", Email: "ann@example.com"})
			applyRows(t, st, acct, "", schema.ResAccountUsers, schema.AccountUser{ID: "bob", Email: "bob@example.com"})
			if got := str(t, st, `SELECT group_concat(id || ':' || coalesce(deleted_reason, 'live'), ',') FROM (SELECT * FROM account_users ORDER BY id)`); got != "ann:removed,bob:live" {
				t.Errorf("account users %s, want ann:removed,bob:live", got)
			}
			if got := str(t, st, `SELECT group_concat(op || ':' || coalesce(organization_id, 'none'), ',') FROM (SELECT * FROM change_events WHERE entity = 'account_users' ORDER BY id)`); got != "created:none,deleted:none" {
				t.Errorf("account user events %s, want created:none,deleted:none", got)
			}
		})
	}
}
