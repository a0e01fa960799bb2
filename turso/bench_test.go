package turso_test

import (
	"context"
	"testing"
	"time"

	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// BenchmarkListDatabases measures reading and decoding every page of a
// 10,000-database org from the simulator over loopback HTTP.
func BenchmarkListDatabases(b *testing.B) {
	size := tursotest.Large
	size.Databases, size.Members, size.Invites, size.AuditEvents = 10000, 10, 1, 1
	_, url := tursotest.NewServer(b, tursotest.Config{Seed: 1, Size: size})
	c, err := turso.NewClient(turso.Options{BaseURL: url, Token: turso.NewSecret("bench"), Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	rows := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := c.ListDatabases(context.Background(), "org1", func(p []turso.Database) error { rows += len(p); return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(c.Stats().Requests)/float64(b.N), "requests/op")
}
