package daemon_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

const testToken = "tok-SECRET-daemon-0123456789"

var small = tursotest.Size{Orgs: 2, Members: 30, Invites: 6, Databases: 120, Groups: 3, APITokens: 3, AuditEvents: 40}

// env is a simulator and a mirror (internal/testmirror: a file, or sqld)
// for a scheduler to run passes between.
type env struct {
	t     *testing.T
	clk   *testclock.Clock
	sim   *tursotest.Server
	url   string
	store *storage.Store
	opts  tsync.Options
}

func newEnv(t *testing.T, size tursotest.Size) *env {
	t.Helper()
	clk := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	sim, simURL := tursotest.NewServer(t, tursotest.Config{Seed: 7, Size: size, Token: testToken, Now: clk.Now})
	m := testmirror.Open(t, storage.Options{Now: clk.Now, BusyTimeout: 200 * time.Millisecond})
	e := &env{t: t, clk: clk, sim: sim, url: simURL, store: m.Store}
	// The scheduler's tests read the mirror and the metrics, not the log.
	e.opts = tsync.Options{Now: clk.Now}
	return e
}

func (e *env) client(token string) *turso.Client {
	c, err := turso.NewClient(turso.Options{BaseURL: e.url, Token: turso.NewSecret(token), MaxRetries: 3, Timeout: 5 * time.Second,
		Now: e.clk.Now, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// pass runs one sync of the account "acme" outside any scheduler.
func (e *env) pass() tsync.Result {
	e.t.Helper()
	return tsync.New(tsync.MirrorOf(e.store), e.opts).SyncAccount(context.Background(), tsync.Account{ID: "acme", API: e.client(testToken)})
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.store.DB().QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *env) str(q string, args ...any) string {
	e.t.Helper()
	var s sql.NullString
	if err := e.store.DB().QueryRow(q, args...).Scan(&s); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return s.String
}
