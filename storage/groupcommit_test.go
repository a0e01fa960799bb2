package storage_test

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// Small commits of several accounts that wait for the writer together are
// committed in one transaction; one whose lease another process took is
// refused alone and the others land, on both backends.
func TestGroupedCommitsKeepTheirOwnFences(t *testing.T) {
	for name, opener := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := testclock.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
			a, b := opener(t, clk.Now), opener(t, clk.Now)
			const ttl = 30 * time.Second
			accounts := []string{"acme", "beta", "gamma"}
			passes := map[string]*storage.Pass{}
			begin := func() {
				t.Helper()
				for _, acc := range accounts {
					p, err := a.BeginPass(ctx, acc, storage.PassOptions{Trigger: "manual", StartedAt: clk.Now()})
					if err != nil {
						t.Fatal(err)
					}
					passes[acc] = p
				}
			}
			for _, acc := range accounts {
				if _, err := a.AcquireLease(ctx, acc, "proc-a", ttl); err != nil {
					t.Fatal(err)
				}
			}
			begin()
			commitTogether := func(name string, accs ...string) map[string]error {
				t.Helper()
				release := a.HoldWriter()
				errs := map[string]error{}
				var mu stdsync.Mutex
				var wg stdsync.WaitGroup
				for _, acc := range accs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						row := schema.Organization{ID: "org1", Name: name + "-" + acc, Type: "team", RemoteData: []byte(`{"slug":"org1"}`)}
						sc := stageRows(t, a, acc, schema.ResOrganization, []schema.Row{row})
						_, err := passes[acc].Org("org1").Commit(ctx, []*storage.Scope{sc})
						mu.Lock()
						errs[acc] = err
						mu.Unlock()
					}()
				}
				testwait.Until(t, fmt.Sprintf("%d commits waiting for the writer", len(accs)), func() bool { return a.WaitingCommits() == len(accs) })
				release()
				wg.Wait()
				return errs
			}
			orgName := func(acc string) string {
				var got string
				if err := b.DB().QueryRow(`SELECT name FROM organizations WHERE account_id = ? AND id = 'org1'`, acc).Scan(&got); err != nil {
					t.Fatalf("%s: %v", acc, err)
				}
				return got
			}

			errs := commitTogether("first", accounts...)
			for _, acc := range accounts {
				if errs[acc] != nil {
					t.Fatalf("%s: %v", acc, errs[acc])
				}
				if got := orgName(acc); got != "first-"+acc {
					t.Errorf("%s: org %q, want first-%s", acc, got, acc)
				}
			}
			if n := a.GroupedCommits(); n != 3 {
				t.Errorf("%d commits went in a group, want the 3 that waited together", n)
			}

			// beta's lease expires and b takes it: a's next commit of beta
			// is refused, in the group or alone, and acme's and gamma's land.
			begin()
			clk.Advance(ttl + time.Second)
			if _, err := b.AcquireLease(ctx, "beta", "proc-b", ttl); err != nil {
				t.Fatal(err)
			}
			errs = commitTogether("second", accounts...)
			if !errors.Is(errs["beta"], storage.ErrLeaseLost) {
				t.Errorf("beta's commit after losing its lease: %v, want ErrLeaseLost", errs["beta"])
			}
			for _, acc := range []string{"acme", "gamma"} {
				if errs[acc] != nil {
					t.Errorf("%s, grouped with a fenced commit: %v", acc, errs[acc])
				}
				if got := orgName(acc); got != "second-"+acc {
					t.Errorf("%s: org %q, want second-%s", acc, got, acc)
				}
			}
			if got := orgName("beta"); got != "first-beta" {
				t.Errorf("beta: org %q after a fenced commit, want first-beta", got)
			}
			var stageRows int
			if err := b.DB().QueryRow(`SELECT count(*) FROM stage_organizations`).Scan(&stageRows); err != nil || stageRows != 0 {
				t.Errorf("%d stage rows left (%v)", stageRows, err)
			}
		})
	}
}

// A batch that outgrows inlineMaxBytes midway through a scope stages what
// it held and commits as a large one; either way the mirror ends the same:
// rows, tombstones, change events, audit events and usage, and no stage
// row left.
func TestSmallAndLargeBatchesWriteTheSame(t *testing.T) {
	for name, opener := range backends(t) {
		t.Run(name, func(t *testing.T) {
			got := map[string]string{}
			for _, limit := range []int{1 << 20, 2000} {
				restore := storage.SetInlineMaxBytes(limit)
				clk := testclock.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
				st := opener(t, clk.Now)
				account := fmt.Sprintf("acct-%d", limit)
				for pass := 1; pass <= 2; pass++ {
					commitSample(t, st, clk, account, pass)
					clk.Advance(time.Hour)
				}
				restore()
				got[fmt.Sprint(limit)] = dumpAccount(t, st, account)
			}
			if got["1048576"] != got["2000"] {
				t.Errorf("a small batch and one that outgrew the limit wrote different mirrors:\nsmall:\n%s\nlarge:\n%s", got["1048576"], got["2000"])
			}
			if got["2000"] == "" {
				t.Error("nothing written")
			}
		})
	}
}

// commitSample commits pass n of one org: 60 databases (the second pass
// changes 10, adds 5 and drops 5), audit events and usage counters.
func commitSample(t *testing.T, st *storage.Store, clk *testclock.Clock, account string, n int) {
	t.Helper()
	ctx := context.Background()
	p, err := st.BeginPass(ctx, account, storage.PassOptions{Trigger: "manual", StartedAt: clk.Now(), Guard: storage.Guard{MaxFraction: 1, MinRows: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	var rows []schema.Row
	for i := range 60 {
		id := fmt.Sprintf("db%03d", i+5*(n-1))
		name := "db-" + id
		if n == 2 && i < 10 {
			name += "-renamed"
		}
		rows = append(rows, schema.Database{OrganizationID: "org1", ID: id, Name: name, Regions: `["aws-eu-west-1"]`, RemoteData: []byte(`{"DbId":"` + id + `"}`)})
	}
	dbs := stageRows(t, st, account, schema.ResDatabases, rows)
	var audit []schema.AuditLog
	for i := range 40 {
		audit = append(audit, schema.AuditLog{OrganizationID: "org1", ID: fmt.Sprintf("ev%03d", i+20*(n-1)), Code: "db-create",
			Message: "created a database with a long enough message to fill the batch", CreatedAt: clk.Now().Add(time.Duration(i) * time.Second).Format(time.RFC3339),
			Data: `{}`, RemoteData: []byte(`{}`)})
	}
	var usage []schema.Usage
	for i := range 30 {
		usage = append(usage, schema.Usage{OrganizationID: "org1", Day: fmt.Sprintf("2026-12-%02d", n), DatabaseID: fmt.Sprintf("db%03d", i), RowsRead: int64(n * i), RemoteData: []byte(`{}`)})
	}
	scopes := []*storage.Scope{dbs,
		{Resource: schema.ResAuditLogs, Status: storage.StatusComplete, Audit: audit},
		{Resource: schema.ResUsage, Status: storage.StatusComplete, Usage: &storage.StagedUsage{New: usageIter(usage)}}}
	if _, err := p.Org("org1").Commit(ctx, scopes); err != nil {
		t.Fatalf("pass %d: %v", n, err)
	}
	if err := p.Finish(ctx, storage.Run{Status: "complete", FinishedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
}

func usageIter(rows []schema.Usage) storage.UsageIter {
	return func(yield func(schema.Usage) error) error {
		for _, u := range rows {
			if err := yield(u); err != nil {
				return err
			}
		}
		return nil
	}
}

// stageRows diffs rows against the mirror and stages them as the scope
// res, counting each key once (the first row of a repeated key is kept),
// as the sync does.
func stageRows(t *testing.T, st *storage.Store, account, res string, rows []schema.Row) *storage.Scope {
	t.Helper()
	kinds, err := st.Diff(context.Background(), account, rows)
	if err != nil {
		t.Fatal(err)
	}
	staged := &storage.Staged{}
	var fresh, changed, kept []schema.Row
	for i, r := range rows {
		if !staged.Count(r.Table(), r.KeyValues(), kinds[i]) {
			continue
		}
		kept = append(kept, r)
		switch kinds[i] {
		case storage.New:
			fresh = append(fresh, r)
		case storage.Changed, storage.Revived:
			changed = append(changed, r)
		}
	}
	staged.New, staged.Changed = storage.SliceIter(fresh), storage.SliceIter(changed)
	staged.Keys = storage.RowKeys(storage.SliceIter(kept))
	return &storage.Scope{Resource: res, Status: storage.StatusComplete, Rows: staged}
}

// dumpAccount is what the mirror holds of an account, as text to compare.
func dumpAccount(t *testing.T, st *storage.Store, account string) string {
	t.Helper()
	var out string
	for _, q := range []string{
		`SELECT id, name, regions, content_hash, first_seen_at, updated_at, deleted_at, deleted_reason FROM databases WHERE account_id = ? ORDER BY id`,
		`SELECT entity, entity_id, op, at, changes FROM change_events WHERE account_id = ? ORDER BY id`,
		`SELECT id, code, created_at, first_seen_at FROM audit_logs WHERE account_id = ? ORDER BY id`,
		`SELECT day, database_id, rows_read, observed_at FROM usage WHERE account_id = ? ORDER BY day, database_id`,
		`SELECT resource, status, rows_created, rows_updated, rows_deleted, rows_unchanged FROM sync_scopes WHERE account_id = ? ORDER BY rowid`,
	} {
		rows, err := st.DB().Query(q, account)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprintln(vals...)
		}
		rows.Close()
		out += "--\n"
	}
	for _, table := range []string{"stage_databases", "stage_audit_logs", "stage_usage", "stage_change_events", "stage_keys"} {
		var n int
		if err := st.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s holds %d rows after the commits (%v)", table, n, err)
		}
	}
	return out
}
