package sync_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso/tursotest"
)

// contentTables are compared between backends: every table but the run
// bookkeeping (sync_runs, sync_scopes), whose times are the wall clock's.
var contentTables = map[string]string{
	"organizations":    "account_id, id",
	"users":            "account_id, id",
	"roles":            "account_id, id",
	"role_assignments": "account_id, organization_id, user_id",
	"invites":          "account_id, organization_id, id",
	"databases":        "account_id, organization_id, id",
	"groups":           "account_id, organization_id, id",
	"api_tokens":       "account_id, organization_id, id",
	"audit_logs":       "account_id, organization_id, id",
	"usage":            "account_id, organization_id, day, database_id",
	"locations":        "code",
	"change_events":    "id",
}

// dump renders a table's rows, every column, in key order.
func dump(t *testing.T, db *sql.DB, table, order string) string {
	t.Helper()
	rows, err := db.Query(`SELECT * FROM "` + table + `" ORDER BY ` + order)
	if err != nil {
		t.Fatalf("dump %s: %v", table, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals, err := rowValues(rows, len(cols))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%s=%v|", cols[i], v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// rowValues scans the current row's n columns, whatever their types.
func rowValues(rows *sql.Rows, n int) ([]any, error) {
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, rows.Scan(ptrs...)
}

// TestSameContentOnFileAndSqld runs the same passes over the same simulated
// account into a mirror file and a real sqld, with churn, tombstones, a
// guard trip, restores, accepted and revoked invites and an offboarded org,
// and requires every content table to match row for row.
func TestSameContentOnFileAndSqld(t *testing.T) {
	srv := sqldtest.Start(t, sqldtest.Options{})
	clk := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	sim, simURL := tursotest.NewServer(t, tursotest.Config{Seed: 11, Size: tursotest.Size{Orgs: 3, Members: 20, Invites: 5, Databases: 400, Groups: 3, APITokens: 3, AuditEvents: 40},
		Token: testToken, Now: clk.Now})
	e := &env{t: t, clk: clk, url: simURL, timeout: 5 * time.Second}
	open := func(url string) *storage.Store {
		return testmirror.OpenURL(t, url, storage.Options{Now: clk.Now}).Store
	}
	stores := map[string]*storage.Store{"file": open("file:" + filepath.Join(t.TempDir(), "m.db")), "sqld": open(srv.URL)}
	pass := func(step string, force bool) {
		t.Helper()
		for name, st := range stores {
			r := tsync.New(tsync.MirrorOf(st), tsync.Options{Now: clk.Now, ForceDeletes: force, Owner: "test-" + name}).
				SyncAccount(context.Background(), tsync.Account{ID: "acme", API: e.client(testToken)})
			if r.Status == storage.StatusFailed {
				t.Fatalf("%s: %s pass failed: %v", step, name, r.Err)
			}
		}
		clk.Advance(time.Minute)
	}
	pass("baseline", false)
	// Churn: roles change, members leave, invites are accepted and
	// revoked, databases come and go, an audit event arrives.
	ms := sim.Members("org1")
	sim.SetMemberRole("org1", ms[1].Username, "viewer")
	sim.RemoveMember("org1", ms[2].Username)
	invs := sim.Invites("org1")
	sim.AcceptInvite("org1", invs[0].Email, "joiner")
	sim.RevokeInvite("org1", invs[1].Email)
	dbs := sim.Databases("org2")
	sim.DeleteDatabase("org2", dbs[3].Name)
	sim.CreateDatabase("org2", "fresh", "default")
	sim.AppendAudit("org1", "db-create", "joiner", map[string]any{"name": "fresh"})
	pass("churn", false)
	// Most of org3's databases vanish: the guard holds, then is forced.
	sim.SetDatabases("org3", 10)
	pass("guarded", false)
	pass("forced", true)
	// A removed member comes back: restored.
	sim.AddMember("org1", ms[2])
	pass("restore", false)
	// org2 vanishes from the API: offboarded under --force-deletes.
	sim.DeleteOrg("org2")
	pass("offboard", true)

	for table, order := range contentTables {
		f, s := dump(t, stores["file"].DB(), table, order), dump(t, stores["sqld"].DB(), table, order)
		if f == "" && table != "locations" {
			t.Errorf("%s is empty on file: the comparison proves nothing", table)
		}
		if f != s {
			t.Errorf("%s differs between file and sqld:\nfile:\n%.2000s\nsqld:\n%.2000s", table, f, s)
		}
	}
	if got := dump(t, stores["sqld"].DB(), "change_events", "id"); !strings.Contains(got, "op=restored") || !strings.Contains(got, "organization_removed") {
		t.Errorf("the scenario did not restore and offboard:\n%.1500s", got)
	}
}
