package storage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// pass is one org pass of a reconcile case: the databases the fetch
// returned ("id" or "id=name"), or a scope that failed or was unavailable,
// or the org offboarded; and what it must leave.
type pass struct {
	fetched  []string
	status   string // the fetch's status; "" is complete
	guard    storage.Guard
	force    bool
	offboard bool

	wantStatus string
	wantCounts storage.Counts
	wantHeld   int
	wantLive   string // "id=name" of the live rows, sorted, comma-separated
	wantGone   string // "id:reason" of the tombstoned rows, sorted
	wantEvents string // ops of the change events this pass added, in order
}

// noGuard never trips.
var noGuard = storage.Guard{MaxFraction: 1, MinRows: 1000}

// TestReconcileRules walks the reconcile rules (docs/reconcile.md) through the
// storage layer alone, for the databases of one org, on file: and sqld:
// the silent baseline, create, update, unchanged, tombstone, restore, the
// guard and its override, failed and unavailable scopes, offboarding.
func TestReconcileRules(t *testing.T) {
	cases := []struct {
		name   string
		passes []pass
	}{
		{"the baseline creates every row and records no event", []pass{
			{fetched: []string{"a", "b"}, wantStatus: "complete", wantCounts: storage.Counts{Created: 2}, wantLive: "a=db-a,b=db-b", wantEvents: ""},
		}},
		{"after the baseline, a new row is a created event", []pass{
			{fetched: []string{"a"}},
			{fetched: []string{"a", "b"}, wantStatus: "complete", wantCounts: storage.Counts{Created: 1, Unchanged: 1}, wantLive: "a=db-a,b=db-b", wantEvents: "created"},
		}},
		{"a change updates, the rest stays", []pass{
			{fetched: []string{"a", "b"}},
			{fetched: []string{"a=renamed", "b"}, wantStatus: "complete", wantCounts: storage.Counts{Updated: 1, Unchanged: 1}, wantLive: "a=renamed,b=db-b", wantEvents: "updated"},
		}},
		{"an unchanged pass writes nothing", []pass{
			{fetched: []string{"a", "b"}},
			{fetched: []string{"b", "a"}, wantStatus: "complete", wantCounts: storage.Counts{Unchanged: 2}, wantLive: "a=db-a,b=db-b", wantEvents: ""},
		}},
		{"a row no longer fetched is tombstoned, then restored", []pass{
			{fetched: []string{"a", "b", "c"}},
			{fetched: []string{"a", "b"}, wantStatus: "complete", wantCounts: storage.Counts{Deleted: 1, Unchanged: 2}, wantLive: "a=db-a,b=db-b", wantGone: "c:removed", wantEvents: "deleted"},
			{fetched: []string{"a", "b", "c"}, wantStatus: "complete", wantCounts: storage.Counts{Created: 1, Unchanged: 2}, wantLive: "a=db-a,b=db-b,c=db-c", wantEvents: "restored"},
		}},
		{"the guard holds deletes back, creates and updates apply", []pass{
			{fetched: []string{"a", "b", "c", "d"}},
			{fetched: []string{"a=renamed", "e"}, guard: storage.Guard{MaxFraction: 0.5, MinRows: 1}, wantStatus: "guarded", wantHeld: 3,
				wantCounts: storage.Counts{Created: 1, Updated: 1}, wantLive: "a=renamed,b=db-b,c=db-c,d=db-d,e=db-e", wantEvents: "created,updated"},
		}},
		{"--force-deletes applies what the guard held", []pass{
			{fetched: []string{"a", "b", "c", "d"}},
			{fetched: []string{"a"}, guard: storage.Guard{MaxFraction: 0.5, MinRows: 1}, force: true, wantStatus: "complete",
				wantCounts: storage.Counts{Deleted: 3, Unchanged: 1}, wantLive: "a=db-a", wantGone: "b:removed,c:removed,d:removed", wantEvents: "deleted,deleted,deleted"},
		}},
		{"a failed scope deletes and changes nothing", []pass{
			{fetched: []string{"a", "b"}},
			{status: storage.StatusFailed, wantStatus: "failed", wantLive: "a=db-a,b=db-b", wantEvents: ""},
		}},
		{"an unavailable scope deletes nothing", []pass{
			{fetched: []string{"a", "b"}},
			{status: storage.StatusUnavailable, wantStatus: "unavailable", wantLive: "a=db-a,b=db-b", wantEvents: ""},
		}},
		{"offboarding tombstones every row of the org", []pass{
			{fetched: []string{"a", "b"}},
			{offboard: true, wantGone: "a:organization_removed,b:organization_removed", wantEvents: "deleted,deleted"},
		}},
		{"offboarding is guarded too", []pass{
			{fetched: []string{"a", "b", "c"}},
			{offboard: true, guard: storage.Guard{MaxFraction: 0.5, MinRows: 1}, wantLive: "a=db-a,b=db-b,c=db-c", wantEvents: ""},
		}},
	}
	for name, opener := range backends(t) {
		t.Run(name, func(t *testing.T) {
			opener(t, time.Now) // starts sqld for all the cases, not the first one alone
			for ci, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					clk := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
					st := opener(t, clk.Now)
					// Each case has an account of its own: the mirror is shared.
					account := fmt.Sprintf("acct-%d", ci)
					for i, p := range c.passes {
						runPass(t, st, account, i, p)
						clk.Advance(time.Minute)
					}
				})
			}
		})
	}
}

func runPass(t *testing.T, st *storage.Store, account string, i int, p pass) {
	t.Helper()
	ctx := context.Background()
	guard := p.guard
	if guard == (storage.Guard{}) {
		guard = noGuard
	}
	pass, err := st.BeginPass(ctx, account, storage.PassOptions{Trigger: "manual", StartedAt: time.Now(), Guard: guard, ForceDeletes: p.force})
	if err != nil {
		t.Fatal(err)
	}
	var before int64
	if err := st.DB().QueryRow(`SELECT coalesce(max(id), 0) FROM change_events`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	org := pass.Org("org1")
	var sc *storage.Scope
	if p.offboard {
		_, err = org.Offboard(ctx)
	} else {
		sc = scopeOf(t, org, p)
		_, err = org.Commit(ctx, []*storage.Scope{sc})
	}
	if err != nil {
		t.Fatalf("pass %d: %v", i+1, err)
	}
	if sc != nil && p.wantStatus != "" {
		if sc.Status != p.wantStatus || sc.Counts != p.wantCounts || sc.DeletesHeld != p.wantHeld {
			t.Errorf("pass %d: status %s, counts %+v, %d deletes held; want %s, %+v, %d", i+1, sc.Status, sc.Counts, sc.DeletesHeld,
				p.wantStatus, p.wantCounts, p.wantHeld)
		}
	}
	if p.wantStatus == "" && p.wantLive == "" && p.wantGone == "" {
		return // a setup pass
	}
	live, gone := databaseState(t, st, account)
	if live != p.wantLive || gone != p.wantGone {
		t.Errorf("pass %d: live %q, gone %q; want %q, %q", i+1, live, gone, p.wantLive, p.wantGone)
	}
	var events string
	if err := st.DB().QueryRow(`SELECT coalesce(group_concat(op, ','), '') FROM (SELECT op FROM change_events WHERE id > ? AND account_id = ? AND entity = 'databases' ORDER BY id)`,
		before, account).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != p.wantEvents {
		t.Errorf("pass %d: change events %q; want %q", i+1, events, p.wantEvents)
	}
}

// scopeOf builds the databases scope of a pass, diffed and staged as the
// sync does.
func scopeOf(t *testing.T, org *storage.OrgPass, p pass) *storage.Scope {
	t.Helper()
	if p.status != "" {
		return &storage.Scope{Resource: schema.ResDatabases, Status: p.status, ErrorClass: "server", Error: "HTTP 500"}
	}
	var rows []schema.Row
	for _, f := range p.fetched {
		id, name, ok := strings.Cut(f, "=")
		if !ok {
			name = "db-" + id
		}
		rows = append(rows, schema.Database{OrganizationID: "org1", ID: id, Name: name, Regions: "[]", RemoteData: []byte(`{"DbId":"` + id + `","Name":"` + name + `"}`)})
	}
	staged, err := org.Stage(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	return &storage.Scope{Resource: schema.ResDatabases, Status: storage.StatusComplete, Rows: staged}
}

// databaseState is the org's live databases ("id=name") and tombstoned ones
// ("id:reason"), each sorted.
func databaseState(t *testing.T, st *storage.Store, account string) (live, gone string) {
	t.Helper()
	rows, err := st.DB().Query(`SELECT id, name, deleted_at IS NOT NULL, coalesce(deleted_reason, '') FROM databases WHERE account_id = ? ORDER BY id`, account)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var l, g []string
	for rows.Next() {
		var id, name, reason string
		var deleted bool
		if err := rows.Scan(&id, &name, &deleted, &reason); err != nil {
			t.Fatal(err)
		}
		if deleted {
			g = append(g, id+":"+reason)
		} else {
			l = append(l, id+"="+name)
		}
	}
	return strings.Join(l, ","), strings.Join(g, ",")
}
