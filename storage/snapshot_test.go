package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// A snapshot reads back every row as written, on a file and on a libSQL
// server (where each page comes back packed in one value), across pages,
// whatever its keys hold: separators, digits and colons, line breaks,
// multibyte text, the empty string.
func TestSnapshotOnEveryBackend(t *testing.T) {
	keys := []string{"", ":", "3:abc", "12:", "é", "line\nbreak", "sp ace", "'quote"}
	for i := 0; i < 5100; i++ { // past one 5,000-row page
		keys = append(keys, fmt.Sprintf("db-%05d", i))
	}
	rows := make([]schema.Row, len(keys))
	for i, k := range keys {
		rows[i] = schema.Database{OrganizationID: "org1", ID: k, Name: "n" + k, Regions: `["r"]`, RemoteData: []byte(`{"k":1}`)}
	}
	for name, opener := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
			st := opener(t, func() time.Time { return now })
			p, err := st.BeginPass(ctx, "acme", storage.PassOptions{Trigger: "test", StartedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			org := p.Org("org1")
			staged, err := org.Stage(ctx, rows)
			if err != nil {
				t.Fatal(err)
			}
			sc := &storage.Scope{Resource: schema.ResDatabases, Status: storage.StatusComplete, Rows: staged}
			if _, err := org.Commit(ctx, []*storage.Scope{sc}); err != nil {
				t.Fatal(err)
			}
			snap, err := org.Snapshot(ctx, schema.ResDatabases)
			if err != nil {
				t.Fatal(err)
			}
			changed := schema.Database{OrganizationID: "org1", ID: "line\nbreak", Name: "other", Regions: `["r"]`, RemoteData: []byte(`{"k":1}`)}
			fresh := schema.Database{OrganizationID: "org1", ID: "4:abcd", Name: "n", RemoteData: []byte(`{}`)}
			kinds, err := snap.Diff(ctx, append(append([]schema.Row{}, rows...), changed, fresh))
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range kinds[:len(rows)] {
				if k != storage.Unchanged {
					t.Fatalf("row %q: kind %d, want unchanged", keys[i], k)
				}
			}
			if kinds[len(rows)] != storage.Changed || kinds[len(rows)+1] != storage.New {
				t.Errorf("changed row: %d, new row: %d", kinds[len(rows)], kinds[len(rows)+1])
			}
		})
	}
}
