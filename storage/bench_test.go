package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// databaseRows makes n database rows of one org, shaped like the simulator's.
func databaseRows(n int, version string) []schema.Row {
	rows := make([]schema.Row, n)
	for i := range rows {
		rows[i] = schema.Database{OrganizationID: "org1", ID: fmt.Sprintf("db-%07d", i), Name: fmt.Sprintf("name-%07d", i),
			Hostname: fmt.Sprintf("name-%07d-org1.turso.io", i), GroupName: "default", PrimaryRegion: "aws-us-east-1",
			Regions: `["aws-us-east-1"]`, Type: "logical", Version: version,
			RemoteData: []byte(`{"Name":"x","DbId":"y","Hostname":"z","regions":["aws-us-east-1"],"primaryRegion":"aws-us-east-1","group":"default","type":"logical","version":"` + version + `"}`)}
	}
	return rows
}

// write applies rows as one complete databases scope of a pass.
func write(b *testing.B, st *storage.Store, rows []schema.Row) storage.Counts {
	ctx := context.Background()
	p, err := st.BeginPass(ctx, "acme", storage.PassOptions{Trigger: "bench", StartedAt: time.Now(), Guard: storage.Guard{MaxFraction: 1, MinRows: 1 << 30}})
	if err != nil {
		b.Fatal(err)
	}
	org := p.Org("org1")
	staged, err := org.Stage(ctx, rows)
	if err != nil {
		b.Fatal(err)
	}
	sc := &storage.Scope{Resource: schema.ResDatabases, Status: storage.StatusComplete, Rows: staged, StartedAt: time.Now(), FinishedAt: time.Now()}
	if _, err := org.Commit(ctx, []*storage.Scope{sc}); err != nil {
		b.Fatal(err)
	}
	return sc.Counts
}

// BenchmarkWriteNewRows measures the first-pass write: diff, then new rows
// inserted many per statement, in one transaction.
func BenchmarkWriteNewRows(b *testing.B) {
	const n = 10000
	rows := databaseRows(n, "v1")
	total := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := openTemp(b)
		b.StartTimer()
		c := write(b, st, rows)
		total += c.Created
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkDiffUnchanged measures the hash diff of 1,000-row pages against
// a mirror that already holds them: the cost of an unchanged pass.
func BenchmarkDiffUnchanged(b *testing.B) {
	const n = 10000
	st := openTemp(b)
	rows := databaseRows(n, "v1")
	write(b, st, rows)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for p := 0; p < n; p += 1000 {
			kinds, err := st.Diff(context.Background(), "acme", rows[p:p+1000])
			if err != nil {
				b.Fatal(err)
			}
			if kinds[0] != storage.Unchanged {
				b.Fatal("a stored row diffs as changed")
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}
