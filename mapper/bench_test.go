package mapper_test

import (
	"encoding/json"
	"testing"

	"github.com/tursync/tursync/mapper"
	"github.com/tursync/tursync/turso"
)

// BenchmarkMapDatabase measures mapping one wire database to its row.
func BenchmarkMapDatabase(b *testing.B) {
	d := turso.Database{Name: "name-1", DbID: "db-1", Hostname: "name-1-org1.turso.io", Regions: []string{"aws-us-east-1", "aws-eu-west-1"},
		PrimaryRegion: "aws-us-east-1", Group: "default", Type: "logical", Version: "0.24.32",
		Raw: json.RawMessage(`{"Name":"name-1","DbId":"db-1","Hostname":"name-1-org1.turso.io","regions":["aws-us-east-1","aws-eu-west-1"]}`)}
	for i := 0; i < b.N; i++ {
		_ = mapper.Database("org1", d)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
