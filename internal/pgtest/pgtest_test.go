package pgtest_test

import (
	"context"
	"testing"

	"github.com/tursync/tursync/internal/pgtest"
)

// The server answers, survives a stop and a restart, and keeps its data.
func TestStartStopRestart(t *testing.T) {
	s := pgtest.Start(t)
	ctx := context.Background()
	c := s.Conn(t)
	if _, err := c.Exec(ctx, `CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("a stopped server still answers")
	}
	s.Restart()
	var n int
	if err := s.Conn(t).QueryRow(ctx, `SELECT n FROM kept`).Scan(&n); err != nil || n != 7 {
		t.Fatalf("after a restart: %d, %v", n, err)
	}
}
