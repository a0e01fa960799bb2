package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/internal/testproc"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// backends opens, for each mirror backend, a function that opens one more
// store on the same mirror: two stores stand for two processes.
func backends(t *testing.T) map[string]func(t *testing.T, now func() time.Time) *storage.Store {
	t.Helper()
	var srv *sqldtest.Server
	open := func(url string) func(t *testing.T, now func() time.Time) *storage.Store {
		return func(t *testing.T, now func() time.Time) *storage.Store {
			st, err := storage.Open(context.Background(), url, storage.Options{Now: now, BusyTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	}
	return map[string]func(t *testing.T, now func() time.Time) *storage.Store{
		"file": open("file:" + filepath.Join(t.TempDir(), "m.db")),
		"sqld": func(t *testing.T, now func() time.Time) *storage.Store {
			// The first call starts the server; later ones reach the same.
			if srv == nil {
				srv = sqldtest.Start(t, sqldtest.Options{})
			}
			return open(srv.URL)(t, now)
		},
	}
}

func orgScopes(name string) []*storage.Scope {
	row := schema.Organization{ID: "org1", Name: name, Type: "team", RemoteData: []byte(`{"slug":"org1"}`)}
	sc := &storage.Scope{Resource: schema.ResOrganization, Status: storage.StatusComplete,
		Rows: &storage.Staged{New: storage.SliceIter([]schema.Row{row}), Keys: storage.RowKeys(storage.SliceIter([]schema.Row{row}))}}
	sc.Rows.Count(schema.Organizations, row.KeyValues(), storage.New)
	return []*storage.Scope{sc}
}

func TestLeaseFencesEveryCommit(t *testing.T) {
	for name, opener := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
			a, b := opener(t, clk.Now), opener(t, clk.Now)
			const ttl = 30 * time.Second
			la, err := a.AcquireLease(ctx, "acme", "proc-a", ttl)
			if err != nil {
				t.Fatalf("a takes the free lease: %v", err)
			}
			var held *storage.LeaseHeldError
			if _, err := b.AcquireLease(ctx, "acme", "proc-b", ttl); !errors.As(err, &held) || held.Holder.Owner != "proc-a" {
				t.Fatalf("b takes a held lease: %v, want held by proc-a", err)
			}
			if !strings.Contains(held.Error(), "proc-a") || !strings.Contains(held.Error(), "2026-11-20T12:00:30Z") {
				t.Errorf("held error does not name the holder and until when: %v", held)
			}
			// A run of a's is left running, as by a process that dies.
			pass, err := a.BeginPass(ctx, "acme", storage.PassOptions{Trigger: "schedule", StartedAt: clk.Now()})
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(20 * time.Second)
			if err := a.RenewLease(ctx, la, ttl); err != nil {
				t.Fatalf("renew a live lease: %v", err)
			}
			if _, err := pass.Org("org1").Commit(ctx, orgScopes("first")); err != nil {
				t.Fatalf("commit under a live lease: %v", err)
			}
			// a pauses past its lease; b takes it over.
			clk.Advance(ttl + time.Second)
			lb, err := b.AcquireLease(ctx, "acme", "proc-b", ttl)
			if err != nil {
				t.Fatalf("b takes an expired lease: %v", err)
			}
			if lb.Generation != la.Generation+1 {
				t.Errorf("generation %d after %d, want one more", lb.Generation, la.Generation)
			}
			var status string
			if err := b.DB().QueryRow(`SELECT status FROM sync_runs WHERE id = ?`, pass.RunID()).Scan(&status); err != nil || status != "aborted" {
				t.Errorf("a's dead run is %q (%v), want aborted", status, err)
			}
			// a wakes up: its commit is refused and writes nothing.
			_, err = pass.Org("org1").Commit(ctx, orgScopes("second"))
			if !errors.Is(err, storage.ErrLeaseLost) {
				t.Fatalf("commit after losing the lease: %v, want ErrLeaseLost", err)
			}
			var got string
			if err := b.DB().QueryRow(`SELECT name FROM organizations WHERE account_id = 'acme' AND id = 'org1'`).Scan(&got); err != nil || got != "first" {
				t.Errorf("org name %q (%v) after a fenced commit, want first", got, err)
			}
			if err := a.RenewLease(ctx, la, ttl); !errors.Is(err, storage.ErrLeaseLost) {
				t.Errorf("renew a lease another process took: %v, want ErrLeaseLost", err)
			}
			var stageRows int
			if err := b.DB().QueryRow(`SELECT count(*) FROM stage_organizations`).Scan(&stageRows); err != nil || stageRows != 0 {
				t.Errorf("a refused commit left %d stage rows (%v)", stageRows, err)
			}
			// b releases; a may take it again, one generation up.
			if err := b.ReleaseLease(ctx, lb); err != nil {
				t.Fatal(err)
			}
			la2, err := a.AcquireLease(ctx, "acme", "proc-a", ttl)
			if err != nil || la2.Generation != lb.Generation+1 {
				t.Fatalf("take a released lease: %+v %v", la2, err)
			}
		})
	}
}

func TestMirrorTokenErrorsNameTheVariable(t *testing.T) {
	srv := sqldtest.Start(t, sqldtest.Options{Auth: true})
	ctx := context.Background()
	const name = "mirror.auth_token_env (MIRROR_TOKEN)"
	_, err := storage.Open(ctx, srv.URL, storage.Options{AuthTokenName: name})
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "MIRROR_TOKEN") {
		t.Fatalf("open without a token: %v, want a 401 naming MIRROR_TOKEN", err)
	}
	bad := "not-a-jwt-SECRET-value"
	_, err = storage.Open(ctx, srv.URL, storage.Options{AuthToken: bad, AuthTokenName: name})
	if err == nil || !strings.Contains(err.Error(), "mirror refused the token (HTTP 401)") || strings.Contains(err.Error(), bad) {
		t.Fatalf("open with a wrong token: %v, want a refusal that does not print it", err)
	}
	st, err := storage.Open(ctx, srv.URL, storage.Options{AuthToken: srv.Token("rw"), AuthTokenName: name})
	if err != nil {
		t.Fatalf("open with a good token: %v", err)
	}
	st.Close()
	st, err = storage.Open(ctx, srv.URL, storage.Options{AuthToken: srv.Token("ro"), AuthTokenName: name})
	if err == nil {
		_, err = st.BeginPass(ctx, "acme", storage.PassOptions{Trigger: "manual", StartedAt: time.Now()})
		st.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write with a read-only token: %v, want an error that says read-only", err)
	}
}

// A lease whose holder is a process of this host that no longer runs is
// taken over at once (TakenFrom names it); a running holder's, or another
// host's, is still held until it expires, and the error names --lease-wait.
func TestDeadHolderReleasesAtOnce(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t, time.Now)
			ctx := context.Background()
			host, _ := os.Hostname()
			ended, running := testproc.Pids(t)
			cases := []struct {
				account, holder string
				takenOver       bool
			}{
				{"dead", fmt.Sprintf("%s:%d:aaaaaaaa", host, ended), true},
				{"alive", fmt.Sprintf("%s:%d:bbbbbbbb", host, running), false},
				{"elsewhere", fmt.Sprintf("another-host-%s:%d:cccccccc", host, ended), false},
			}
			for _, c := range cases {
				if _, err := st.AcquireLease(ctx, c.account, c.holder, time.Hour); err != nil {
					t.Fatal(err)
				}
				l, err := st.AcquireLease(ctx, c.account, "me:1:dddddddd", time.Minute)
				if c.takenOver {
					if err != nil || l.TakenFrom != c.holder || l.Generation != 2 {
						t.Errorf("%s: %+v %v, want the lease taken over from %s", c.account, l, err, c.holder)
					}
					continue
				}
				var held *storage.LeaseHeldError
				if !errors.As(err, &held) || !strings.Contains(err.Error(), "--lease-wait") {
					t.Errorf("%s: %v, want the lease held, naming --lease-wait", c.account, err)
				}
			}
		})
	}
}
