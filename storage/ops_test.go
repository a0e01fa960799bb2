package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/storage"
)

// runAt records a finished run of account at t with one scope per
// resource: status pairs.
func runAt(t *testing.T, st *storage.Store, account string, at time.Time, scopes map[string]string) int64 {
	t.Helper()
	ctx := context.Background()
	pass, err := st.BeginPass(ctx, account, storage.PassOptions{Trigger: "schedule", StartedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	var scs []*storage.Scope
	for res, status := range scopes {
		scs = append(scs, &storage.Scope{Resource: res, Status: status, StartedAt: at, FinishedAt: at})
	}
	if err := pass.Org("org1").Abandon(ctx, scs); err != nil {
		t.Fatal(err)
	}
	if err := pass.Finish(ctx, storage.Run{Status: "complete", FinishedAt: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`INSERT INTO change_events (account_id, run_id, at, entity, entity_id, op, changes) VALUES (?, ?, ?, 'databases', 'x', 'created', '{}')`,
		account, pass.RunID(), at.UTC().Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	return pass.RunID()
}

func openTemp(t testing.TB) *storage.Store {
	t.Helper()
	return testmirror.Open(t, storage.Options{}).Store
}

func TestRetentionKeepsTheLastCompleteRunOfEveryScope(t *testing.T) {
	st := openTemp(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	// Members completed 100 days ago and failed ever since; databases
	// complete every run.
	oldest := runAt(t, st, "acme", now.Add(-100*day), map[string]string{"members": "complete", "databases": "complete"})
	runAt(t, st, "acme", now.Add(-95*day), map[string]string{"members": "failed", "databases": "complete"})
	runAt(t, st, "acme", now.Add(-10*day), map[string]string{"members": "failed", "databases": "complete"})
	latest := runAt(t, st, "acme", now.Add(-day), map[string]string{"members": "failed", "databases": "complete"})

	n, err := st.Prune(ctx, storage.Retention{SyncRuns: 90 * day, ChangeEvents: 30 * day}, now)
	if err != nil {
		t.Fatal(err)
	}
	if n["sync_runs"] != 1 || n["sync_scopes"] != 2 || n["change_events"] != 2 {
		t.Errorf("pruned %v, want 1 run (95 days old) with its 2 scopes, and 2 change events older than 30 days", n)
	}
	var ids []int64
	rows, _ := st.DB().Query(`SELECT id FROM sync_runs ORDER BY id`)
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 3 || ids[0] != oldest || ids[2] != latest {
		t.Errorf("runs left %v: the 100-day-old run holds members' last success and must stay", ids)
	}
	hs, err := st.ScopeHealth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.Resource == "members" && (h.LastStatus != "failed" || !h.LastCompleteAt.Equal(now.Add(-100*day))) {
			t.Errorf("members health %+v: want failed, last complete 100 days ago", h)
		}
	}
	// Zero keeps forever.
	if n, err := st.Prune(ctx, storage.Retention{}, now.Add(1000*day)); err != nil || len(n) != 0 {
		t.Errorf("zero retention pruned %v (%v)", n, err)
	}
}

func TestPruneAccountRemovesOnlyThatAccount(t *testing.T) {
	st := openTemp(t)
	ctx := context.Background()
	now := time.Now()
	runAt(t, st, "gone", now, map[string]string{"members": "complete"})
	runAt(t, st, "kept", now, map[string]string{"members": "complete"})
	before, err := st.AccountRows(ctx, "gone")
	if err != nil || before["sync_runs"] != 1 || before["sync_scopes"] != 1 || before["change_events"] != 1 {
		t.Fatalf("rows of gone: %v %v", before, err)
	}
	removed, err := st.PruneAccount(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if removed["sync_runs"] != 1 || removed["change_events"] != 1 {
		t.Errorf("removed %v", removed)
	}
	if left, _ := st.AccountRows(ctx, "gone"); len(left) != 0 {
		t.Errorf("rows of gone left: %v", left)
	}
	if kept, _ := st.AccountRows(ctx, "kept"); kept["sync_runs"] != 1 || kept["sync_scopes"] != 1 {
		t.Errorf("rows of kept: %v", kept)
	}
}

// Retention prunes the versions that ended before the change events'
// cutoff and keeps one that spans it, so the history answers for every
// time within the window.
func TestRetentionPrunesHistoryWithTheChangeEvents(t *testing.T) {
	st := openTemp(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for _, v := range [][2]string{
		{"2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z"}, // ended 50 days ago
		{"2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"}, // spans the 30-day cutoff
		{"2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z"},
	} {
		if _, err := st.DB().Exec(`INSERT INTO row_versions (account_id, entity, organization_id, row_id, valid_from, valid_to, ended_by, content)
			VALUES ('acme', 'role_assignments', 'o', 'u', ?, ?, 'changed', '{"role_id": "admin", "status": "active", "source": "members"}')`, v[0], v[1]); err != nil {
			t.Fatal(err)
		}
	}
	n, err := st.Prune(ctx, storage.Retention{ChangeEvents: 30 * 24 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	var left string
	if err := st.DB().QueryRow(`SELECT group_concat(valid_from, ' ') FROM (SELECT valid_from FROM row_versions ORDER BY valid_from)`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if n["row_versions"] != 1 || left != "2026-10-01T00:00:00Z 2026-11-01T00:00:00Z" {
		t.Errorf("pruned %d versions, left those from %s; want the one that ended before the cutoff gone, the spanning one kept", n["row_versions"], left)
	}
}
