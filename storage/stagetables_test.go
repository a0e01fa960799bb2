package storage_test

import (
	"context"
	"testing"

	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// A table's stage twin is derived from schema.Table, not written by hand in
// a migration: one that is missing, or lacks a column, is made whole when
// the mirror opens, and a pass writes through it.
func TestStageTablesFollowTheSchema(t *testing.T) {
	m := testmirror.Open(t, storage.Options{})
	for _, q := range []string{`DROP TABLE stage_plans`, `ALTER TABLE stage_organizations DROP COLUMN plan_id`} {
		if _, err := m.DB().Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	m.Close()
	st := testmirror.OpenURL(t, m.URL, storage.Options{})
	for table, col := range map[string]string{"stage_plans": "stage_op", "stage_organizations": "plan_id"} {
		rows, err := st.DB().Query(`SELECT * FROM ` + table + ` LIMIT 0`)
		if err != nil {
			t.Fatalf("%s after reopening: %v", table, err)
		}
		cols, _ := rows.Columns()
		rows.Close()
		found := false
		for _, c := range cols {
			found = found || c == col
		}
		if !found {
			t.Errorf("%s has columns %v, want %s among them", table, cols, col)
		}
	}
	applyRows(t, st.Store, "acme", "org1", schema.ResPlans, schema.Plan{OrganizationID: "org1", ID: "pro", Price: "29", Prices: "[]", RemoteData: []byte(`{"name":"pro"}`)})
	var n int
	if err := st.DB().QueryRowContext(context.Background(), `SELECT count(*) FROM plans WHERE id = 'pro'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("plans written through the recreated stage table: %d (%v), want 1", n, err)
	}
}
