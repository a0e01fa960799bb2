package storage

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tursync/tursync/schema"
)

// Each attribution rule looks a change's audit events up by object and
// time in audit_logs_object: a pass that deletes 10,000 databases while
// the org logged 10,000 events does not read every event for every
// change.
func TestAttributionIsIndexed(t *testing.T) {
	st, err := Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "m.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, a := range schema.Attributions {
		events, match := attributionSQL(a)
		rows, err := st.db.Query(`EXPLAIN QUERY PLAN SELECT e.id FROM change_events e WHERE `+events+` AND EXISTS (SELECT 1 `+match+`)`, 1, "a", "o", a.Table.Name)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		if !strings.Contains(all, "SEARCH a USING INDEX audit_logs_object (account_id=? AND organization_id=? AND object=? AND created_at>? AND created_at<?)") ||
			!strings.Contains(all, "SEARCH e USING INDEX change_events_run") {
			t.Errorf("%s %v: the match is not an index lookup by object and time:\n%s", a.Table.Name, a.Ops, all)
		}
	}
}
