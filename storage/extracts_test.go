package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/tursync/tursync/storage"
)

// seedDatabases writes an org and its databases straight into the mirror,
// as a sync would have.
func seedDatabases(t *testing.T, st *storage.Store, blockedOrg bool, dbs ...[2]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.DB().ExecContext(ctx, `INSERT INTO organizations (account_id, id, organization_id, name, type, plan_id, plan_timeline, overages,
	        require_mfa, blocked_reads, blocked_writes, platform, content_hash, remote_data, first_seen_at, updated_at)
	    VALUES ('acme', 'org1', 'org1', 'Org 1', 'team', 'pro', 'monthly', 0, 0, ?, 0, '', '', '{}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`, blockedOrg); err != nil {
		t.Fatal(err)
	}
	for _, d := range dbs {
		if _, err := st.DB().ExecContext(ctx, `INSERT INTO databases (account_id, organization_id, id, name, hostname, group_name, primary_region, regions,
		        block_reads, block_writes, delete_protection, type, version, is_schema, schema, sleeping, archived, content_hash, remote_data,
		        first_seen_at, updated_at)
		    VALUES ('acme', 'org1', ?, ?, ?, ?, 'aws-us-east-1', '[]', 0, 0, 0, 'logical', 'v1', 0, '', 0, 0, '', '{}',
		        '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`, "id-"+d[0], d[0], d[0]+"-org1.turso.io", d[1]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExtractSnapshotsStatusAndView(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
			st := open(t, func() time.Time { return now })
			seedDatabases(t, st, false, [2]string{"shop-a", "default"}, [2]string{"shop-b", "eu"})
			targets, err := st.Extracts().Targets(ctx, []string{"acme"})
			if err != nil || len(targets) != 2 || targets[0].Name != "shop-a" || targets[1].Group != "eu" || targets[0].BlockedReads {
				t.Fatalf("targets = %+v, %v", targets, err)
			}
			dead, err := st.Extracts().BeginRun(ctx, "daily", "manual") // its process died
			if err != nil {
				t.Fatal(err)
			}
			run, err := st.Extracts().BeginRun(ctx, "daily", "manual")
			if err != nil {
				t.Fatal(err)
			}
			if runs, err := st.Extracts().LastRuns(ctx); err != nil || runs["daily"].ID != run || runs["daily"].Status != "running" {
				t.Errorf("last runs %+v, %v", runs, err)
			}
			var deadStatus string
			if err := st.DB().QueryRowContext(ctx, `SELECT status FROM extract_runs WHERE id = ?`, dead).Scan(&deadStatus); err != nil || deadStatus != "aborted" {
				t.Errorf("the dead process's run is %q (%v); want aborted", deadStatus, err)
			}
			ok := storage.ExtractOutcome{Query: "daily", RunID: run, Target: targets[0], Status: storage.ExtractOK, At: now,
				Rows: [][]byte{[]byte(`{"day":"2026-01-02","orders":3,"revenue":12.5}`), []byte(`{"day":"2026-01-01","orders":1,"revenue":null}`)}}
			if err := st.Extracts().Save(ctx, []storage.ExtractOutcome{ok}); err != nil {
				t.Fatal(err)
			}
			if err := st.Extracts().EnsureView(ctx, "daily", []string{"day", "orders", "revenue"}); err != nil {
				t.Fatal(err)
			}
			var day string
			var orders int64
			var revenue float64
			if err := st.DB().QueryRowContext(ctx, `SELECT day, orders, revenue FROM extract_daily WHERE database_name = 'shop-a' AND revenue IS NOT NULL`).Scan(&day, &orders, &revenue); err != nil {
				t.Fatal(err)
			}
			if day != "2026-01-02" || orders != 3 || revenue != 12.5 {
				t.Errorf("view row = %s %d %v", day, orders, revenue)
			}
			// A failure keeps the snapshot and the last success.
			now = now.Add(time.Hour)
			fail := storage.ExtractOutcome{Query: "daily", RunID: run, Target: targets[0], Status: storage.ExtractFailed, Class: "timeout", Error: "slow", At: now}
			if err := st.Extracts().Save(ctx, []storage.ExtractOutcome{fail}); err != nil {
				t.Fatal(err)
			}
			var status, last string
			var n int
			if err := st.DB().QueryRowContext(ctx, `SELECT status, last_success_at, (SELECT count(*) FROM extract_results WHERE query = 'daily')
			    FROM extract_status WHERE database_id = 'id-shop-a'`).Scan(&status, &last, &n); err != nil {
				t.Fatal(err)
			}
			if status != "failed" || last != "2026-11-29T12:00:00Z" || n != 2 {
				t.Errorf("after a failure: status %s, last success %s, %d rows; want failed, the first success, 2", status, last, n)
			}
			// A database the sync tombstoned is marked, its snapshot kept.
			if _, err := st.DB().ExecContext(ctx, `UPDATE databases SET deleted_at = '2026-11-29T13:00:00Z' WHERE name = 'shop-a'`); err != nil {
				t.Fatal(err)
			}
			marked, err := st.Extracts().MarkDeleted(ctx, "daily", run, []string{"acme"}, now)
			if err != nil || marked != 1 {
				t.Fatalf("marked %d, %v; want 1", marked, err)
			}
			if again, _ := st.Extracts().MarkDeleted(ctx, "daily", run, []string{"acme"}, now); again != 0 {
				t.Errorf("marked again: %d", again)
			}
			if err := st.DB().QueryRowContext(ctx, `SELECT status FROM extract_status WHERE database_id = 'id-shop-a'`).Scan(&status); err != nil || status != "skipped" {
				t.Errorf("deleted database status %q, %v", status, err)
			}
			if targets, _ := st.Extracts().Targets(ctx, []string{"acme"}); len(targets) != 1 {
				t.Errorf("targets after the tombstone: %+v", targets)
			}
			// New columns rebuild the view.
			if err := st.Extracts().EnsureView(ctx, "daily", []string{"day", "orders"}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.DB().QueryContext(ctx, `SELECT revenue FROM extract_daily`); err == nil {
				t.Error("the rebuilt view still has the dropped column")
			}
			if err := st.Extracts().EnsureView(ctx, "daily", []string{"account_id"}); err == nil {
				t.Error("a column named like the view's own was accepted")
			}
		})
	}
}
