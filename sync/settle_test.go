package sync_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/sync/synctest"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// A pass that writes no user and no role assignment skips the account-wide
// settlement only when the run before it left every user settled: a user
// left unsettled by a failed scope is settled by the next pass even though
// that pass writes nothing.
func TestSettlementSkipsOnlyAfterACompleteOne(t *testing.T) {
	e := newEnv(t, mid)
	lastSettled := func() int {
		return e.count(`SELECT users_settled FROM sync_runs ORDER BY id DESC LIMIT 1`)
	}
	e.pass()
	if lastSettled() != 1 {
		t.Fatalf("first clean pass: users_settled = 0")
	}
	// A member of org1 only (the simulator's org2 starts halfway into
	// org1's members) leaves while org1's invites fail: the membership
	// is tombstoned, but the user is not settled.
	only := e.sim.Members("org1")[1].Username
	for _, m := range e.sim.Members("org2") {
		if m.Username == only {
			t.Fatalf("%s is a member of org2 too", only)
		}
	}
	e.sim.RemoveMember("org1", only)
	e.sim.Inject(turso.RouteInvites, "org1", tursotest.Fault{Status: 500})
	e.pass()
	if got := e.str(`SELECT status FROM users WHERE id = ?`, only); got != "active" {
		t.Fatalf("user %s settled to %q though org1's invites failed", only, got)
	}
	if lastSettled() != 0 {
		t.Fatalf("a pass that left %s unsettled recorded users_settled = 1", only)
	}
	// Nothing changes now: the pass writes no user or assignment, and
	// still settles, since the run before it did not.
	e.sim.ClearFaults()
	r := e.pass()
	if r.Counts.Created+r.Counts.Deleted != 0 {
		t.Fatalf("the clean pass wrote rows: %+v", r.Counts)
	}
	if got := e.str(`SELECT status FROM users WHERE id = ?`, only); got != "inactive" {
		t.Errorf("user %s is %q after a clean pass, want inactive", only, got)
	}
	if lastSettled() != 1 {
		t.Errorf("the clean pass recorded users_settled = 0")
	}
	// The store skips only with nothing written and a settled run before.
	p, err := e.store.BeginPass(context.Background(), "acme", storage.PassOptions{Trigger: "manual", StartedAt: e.clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.SettleUsers(context.Background(), map[string]bool{"org1": true, "org2": true}, false)
	if err != nil || !st.Skipped || !st.Settled {
		t.Errorf("untouched after a settled run: %+v, %v; want skipped and settled", st, err)
	}
	st, err = p.SettleUsers(context.Background(), map[string]bool{"org1": true, "org2": true}, true)
	if err != nil || st.Skipped || !st.Settled {
		t.Errorf("touched: %+v, %v; want settled, not skipped", st, err)
	}
}

// lostLease is a mirror on which another process takes the account while
// the users are settled: once the settlement has begun, the renewal finds
// the lease gone, and the settlement waits until the pass's context ends.
// Until then the lease renews, however long the orgs take to write (a
// slow sqld took longer than one renewal, and lost it earlier).
func lostLease(m tsync.Mirror) tsync.Mirror {
	settling := make(chan struct{})
	return synctest.Hook(m, synctest.Hooks{
		Renew: func(_ context.Context, _ *storage.Lease, _ time.Duration, next func() error) error {
			select {
			case <-settling:
				return fmt.Errorf("renew lease of acme: %w", storage.ErrLeaseLost)
			default:
				return next()
			}
		},
		Settle: func(ctx context.Context) (storage.Settlement, error) {
			close(settling)
			<-ctx.Done()
			return storage.Settlement{}, fmt.Errorf("settle users of acme: %w", ctx.Err())
		},
	})
}

// A pass whose lease is lost in the middle of a step says so in its run,
// not only "context canceled" (the scale-out run saw that once).
func TestLostLeaseIsTheRecordedCause(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 1, Members: 3, Databases: 3, Groups: 1})
	o := e.opts
	o.LeaseTTL = 300 * time.Millisecond // renewed, and found lost, after 100 ms
	res := tsync.New(lostLease(tsync.MirrorOf(e.store)), o).SyncAccount(context.Background(), tsync.Account{ID: "acme", API: e.client(testToken)})
	if res.Status != storage.StatusFailed || !errors.Is(res.Err, storage.ErrLeaseLost) {
		t.Fatalf("pass %s: %v; want failed with the lost lease", res.Status, res.Err)
	}
	var recorded string
	if err := e.db().QueryRow(`SELECT coalesce(error, '') FROM sync_runs WHERE id = ?`, res.RunID).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(recorded, storage.ErrLeaseLost.Error()) || !strings.Contains(recorded, "settle users") {
		t.Errorf("sync_runs.error %q: want the lost lease and the step it stopped", recorded)
	}
}
