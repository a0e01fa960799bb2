// Package lease holds named leases in the mirror for every writer: an
// account's pass, an extraction query, a webhook endpoint's delivery. A
// lease is taken (waiting up to a bound while another process holds it),
// renewed every third of its TTL, and released; a lost lease cancels the
// holder's context, whose cause says so.
package lease

import (
	"context"
	"errors"
	"log/slog"
	stdsync "sync"
	"time"

	"github.com/tursync/tursync/storage"
)

// DefaultTTL is how long a lease outlives a holder that stopped renewing
// it (sync.lease_ttl).
const DefaultTTL = 30 * time.Second

// Store is what holding a lease needs of the mirror.
type Store interface {
	AcquireLease(ctx context.Context, key, owner string, ttl time.Duration) (*storage.Lease, error)
	RenewLease(ctx context.Context, l *storage.Lease, ttl time.Duration) error
	ReleaseLease(ctx context.Context, l *storage.Lease) error
}

// Observer hears what leases do (the metrics); every method takes the
// lease's key.
type Observer interface {
	LeaseHeld(key string, held bool)
	LeaseSkipped(key string)
	LeaseTakenOver(key string)
}

// Options tune a Holder.
type Options struct {
	// Owner names this process in the leases; default storage.NewOwner().
	Owner string
	// TTL is DefaultTTL unless set.
	TTL time.Duration
	// Wait is how long Hold waits for a lease another process holds; 0
	// fails at once.
	Wait     time.Duration
	Logger   *slog.Logger
	Observer Observer
}

// Holder takes and keeps leases for one process.
type Holder struct {
	store Store
	o     Options
}

// New returns a Holder over the mirror.
func New(store Store, o Options) *Holder {
	if o.Owner == "" {
		o.Owner = storage.NewOwner()
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Holder{store: store, o: o}
}

// Hold takes the lease named key and keeps it renewed until release is
// called. The returned context ends, with storage.ErrLeaseLost as its
// cause, if another process takes the lease meanwhile. When another
// process holds it past Wait, the error is a *storage.LeaseHeldError.
func (h *Holder) Hold(ctx context.Context, key string) (context.Context, func(), error) {
	log := h.o.Logger.With("lease", key)
	l, err := h.take(ctx, key)
	var held *storage.LeaseHeldError
	if errors.As(err, &held) {
		log.Info("skipped: another process holds the lease", "holder", held.Holder.Owner,
			"until", held.Holder.ExpiresAt.UTC().Format(time.RFC3339))
		h.observe(func(o Observer) { o.LeaseSkipped(key) })
	}
	if err != nil {
		return ctx, nil, err
	}
	if l.TakenFrom != "" {
		log.Warn("took over the lease of a process of this host that no longer runs (killed mid-pass?), without waiting for lease_ttl",
			"holder", l.TakenFrom)
		h.observe(func(o Observer) { o.LeaseTakenOver(key) })
	}
	h.observe(func(o Observer) { o.LeaseHeld(key, true) })
	ctx, stopRenewing := h.keep(ctx, l, log)
	return ctx, func() {
		stopRenewing()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := h.store.ReleaseLease(rctx, l); err != nil {
			log.Warn("lease not released; it expires by itself", "error", err)
		}
		h.observe(func(o Observer) { o.LeaseHeld(key, false) })
	}, nil
}

func (h *Holder) observe(f func(Observer)) {
	if h.o.Observer != nil {
		f(h.o.Observer)
	}
}

// take takes the lease, waiting up to Wait while another process holds it.
func (h *Holder) take(ctx context.Context, key string) (*storage.Lease, error) {
	deadline := time.Now().Add(h.o.Wait)
	for {
		l, err := h.store.AcquireLease(ctx, key, h.o.Owner, h.o.TTL)
		var held *storage.LeaseHeldError
		if !errors.As(err, &held) || !time.Now().Before(deadline) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(min(500*time.Millisecond, time.Until(deadline))):
		}
	}
}

// keep renews the lease every third of its TTL until stop is called. A
// lost lease cancels the context: the holder's commits would be refused
// anyway.
func (h *Holder) keep(ctx context.Context, l *storage.Lease, log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var wg stdsync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(h.o.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, h.o.TTL/3)
			err := h.store.RenewLease(rctx, l, h.o.TTL)
			rcancel()
			if errors.Is(err, storage.ErrLeaseLost) {
				log.Error("lease lost; the work under it stops and commits nothing more", "error", err)
				cancel(err)
				return
			}
			if err != nil {
				// The mirror may be back before the lease runs out.
				log.Warn("lease not renewed", "error", err)
			}
		}
	})
	return ctx, func() {
		close(done)
		wg.Wait()
		cancel(nil)
	}
}
