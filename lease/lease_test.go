package lease_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/lease"
	"github.com/tursync/tursync/storage"
)

func mirror(t *testing.T) *storage.Store {
	t.Helper()
	return testmirror.Open(t, storage.Options{}).Store
}

// observed counts what an Observer hears.
type observed struct{ held, skipped, takenOver map[string]int }

func newObserved() *observed {
	return &observed{held: map[string]int{}, skipped: map[string]int{}, takenOver: map[string]int{}}
}

func (o *observed) LeaseHeld(key string, held bool) {
	if held {
		o.held[key]++
	} else {
		o.held[key]--
	}
}
func (o *observed) LeaseSkipped(key string)   { o.skipped[key]++ }
func (o *observed) LeaseTakenOver(key string) { o.takenOver[key]++ }

// A held lease keeps a second holder out (a LeaseHeldError, counted as a
// skip); once released, the second takes it; with Wait, the second takes it
// as soon as the first lets go.
func TestHoldKeepsOthersOutUntilReleased(t *testing.T) {
	st := mirror(t)
	ctx := context.Background()
	obs := newObserved()
	a := lease.New(st, lease.Options{Owner: "a:1:aaaaaaaa", TTL: 3 * time.Second, Observer: obs})
	b := lease.New(st, lease.Options{Owner: "b:2:bbbbbbbb", TTL: 3 * time.Second, Observer: obs})
	_, release, err := a.Hold(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var held *storage.LeaseHeldError
	if _, _, err := b.Hold(ctx, "acme"); !errors.As(err, &held) || held.Holder.Owner != "a:1:aaaaaaaa" {
		t.Fatalf("a second holder: %v, want a LeaseHeldError naming the first", err)
	}
	if obs.skipped["acme"] != 1 || obs.held["acme"] != 1 {
		t.Errorf("observed %+v", obs)
	}
	waiting := lease.New(st, lease.Options{Owner: "c:3:cccccccc", TTL: 3 * time.Second, Wait: time.Minute})
	got := make(chan error, 1)
	go func() {
		_, rel, err := waiting.Hold(ctx, "acme")
		if err == nil {
			rel()
		}
		got <- err
	}()
	release()
	if err := <-got; err != nil {
		t.Fatalf("a holder waiting for the lease: %v", err)
	}
	if obs.held["acme"] != 0 {
		t.Errorf("held count after release %d, want 0", obs.held["acme"])
	}
}

// lostStore loses every renewal: another process took the lease.
type lostStore struct{ lease.Store }

func (lostStore) RenewLease(context.Context, *storage.Lease, time.Duration) error {
	return fmt.Errorf("renew: %w", storage.ErrLeaseLost)
}

// A lease lost at its renewal ends the holder's context, whose cause is
// the lost lease.
func TestLostLeaseCancelsTheHolder(t *testing.T) {
	h := lease.New(lostStore{mirror(t)}, lease.Options{TTL: 300 * time.Millisecond})
	ctx, release, err := h.Hold(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
		t.Fatal("the holder's context did not end when the lease was lost")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, storage.ErrLeaseLost) {
		t.Errorf("cause %v, want the lost lease", cause)
	}
}
