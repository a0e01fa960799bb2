package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// stageDatabases diffs rows against the mirror and stages them as a
// databases scope, counting each key once, as the sync does.
func stageDatabases(t *testing.T, st *storage.Store, rows []schema.Row) *storage.Scope {
	t.Helper()
	return stageRows(t, st, "acme", schema.ResDatabases, rows)
}

// TestRepeatedRowCannotHideAMissingOne: an answer that lists one database
// twice and leaves another out has as many rows as the mirror has live
// ones; the missing database must still be tombstoned, on both backends.
func TestRepeatedRowCannotHideAMissingOne(t *testing.T) {
	for name, opener := range backends(t) {
		t.Run(name, func(t *testing.T) {
			clk := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
			st := opener(t, clk.Now)
			ctx := context.Background()
			db := func(id string) schema.Row {
				return schema.Database{OrganizationID: "org1", ID: id, Name: "db-" + id, Regions: "[]", RemoteData: []byte(`{"DbId":"` + id + `"}`)}
			}
			pass := func(rows ...schema.Row) *storage.Scope {
				p, err := st.BeginPass(ctx, "acme", storage.PassOptions{Trigger: "manual", StartedAt: clk.Now(), Guard: storage.Guard{MaxFraction: 1, MinRows: 100}})
				if err != nil {
					t.Fatal(err)
				}
				sc := stageDatabases(t, st, rows)
				if _, err := p.Org("org1").Commit(ctx, []*storage.Scope{sc}); err != nil {
					t.Fatal(err)
				}
				clk.Advance(time.Minute)
				return sc
			}
			pass(db("a"), db("b"), db("c"))
			sc := pass(db("a"), db("a"), db("b"))
			if sc.Counts.Deleted != 1 {
				t.Errorf("deleted %d, want 1 (c)", sc.Counts.Deleted)
			}
			var gone string
			if err := st.DB().QueryRow(`SELECT group_concat(id) FROM databases WHERE deleted_at IS NOT NULL`).Scan(&gone); err != nil || gone != "c" {
				t.Errorf("tombstoned %q (%v), want c", gone, err)
			}
			var events int
			if err := st.DB().QueryRow(`SELECT count(*) FROM change_events WHERE entity = 'databases' AND entity_id = 'org1/c' AND op = 'deleted'`).Scan(&events); err != nil || events != 1 {
				t.Errorf("%d deleted events for c (%v), want 1", events, err)
			}
		})
	}
}
