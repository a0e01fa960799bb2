package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/storage"
)

// An export's read holds one snapshot for as long as its copy lasts, and
// writers do not wait for it: a row written meanwhile commits at once and
// the read does not see it.
func TestExportReadDoesNotBlockWriters(t *testing.T) {
	st := testmirror.Open(t, storage.Options{BusyTimeout: 2 * time.Second}).Store
	ctx := context.Background()
	seedDatabases(t, st, false, [2]string{"a", "g"})
	read, err := st.Exports().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer read.Close()
	err = st.Exports().RecordRun(ctx, storage.ExportRun{Export: "wh", Trigger: "test", StartedAt: time.Now(), FinishedAt: time.Now()})
	if err != nil {
		t.Fatalf("a write while an export reads: %v", err)
	}
	if _, err := st.DB().ExecContext(ctx, `INSERT INTO databases (account_id, organization_id, id, name, hostname, group_name, primary_region,
	        regions, block_reads, block_writes, delete_protection, type, version, is_schema, schema, sleeping, archived, content_hash,
	        remote_data, first_seen_at, updated_at)
	    SELECT account_id, organization_id, 'id-b', 'b', 'b-org1.turso.io', group_name, primary_region, regions, block_reads, block_writes,
	        delete_protection, type, version, is_schema, schema, sleeping, archived, content_hash, remote_data, first_seen_at, updated_at
	    FROM databases`); err != nil {
		t.Fatalf("a second database while an export reads: %v", err)
	}
	n := 0
	if err := read.Scan(ctx, "databases", []string{"id"}, storage.ExportFilter{}, func([]any) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("the read saw %d databases; it began with 1", n)
	}
}
