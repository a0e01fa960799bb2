// Package synctest wraps a sync.Mirror so that a test can step in at the
// points of a pass it watches: when a pass begins and ends, before an
// org's commit, when the users are settled, when a lease is renewed.
package synctest

import (
	"context"
	"time"

	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
)

// Hooks are called in place of, or before, the mirror's own step; a nil
// hook leaves the step alone.
type Hooks struct {
	// Begin runs before a pass begins; End after its run is recorded.
	Begin func()
	End   func()
	// BeforeCommit runs before an org's commit ("" for the account's own
	// scopes).
	BeforeCommit func(ctx context.Context, org string)
	// Settle replaces the users' settlement.
	Settle func(ctx context.Context) (storage.Settlement, error)
	// Renew replaces a lease's renewal; next is the mirror's.
	Renew func(ctx context.Context, l *storage.Lease, ttl time.Duration, next func() error) error
}

// Hook returns m with h's hooks.
func Hook(m tsync.Mirror, h Hooks) tsync.Mirror { return mirror{m, h} }

type mirror struct {
	tsync.Mirror
	h Hooks
}

func (m mirror) BeginPass(ctx context.Context, account string, o storage.PassOptions) (tsync.Pass, error) {
	if m.h.Begin != nil {
		m.h.Begin()
	}
	p, err := m.Mirror.BeginPass(ctx, account, o)
	if err != nil {
		return nil, err
	}
	return pass{p, m.h}, nil
}

func (m mirror) RenewLease(ctx context.Context, l *storage.Lease, ttl time.Duration) error {
	if m.h.Renew != nil {
		return m.h.Renew(ctx, l, ttl, func() error { return m.Mirror.RenewLease(ctx, l, ttl) })
	}
	return m.Mirror.RenewLease(ctx, l, ttl)
}

type pass struct {
	tsync.Pass
	h Hooks
}

func (p pass) Org(slug string) tsync.Org { return org{p.Pass.Org(slug), slug, p.h} }

func (p pass) SettleUsers(ctx context.Context, settled map[string]bool, touched bool) (storage.Settlement, error) {
	if p.h.Settle != nil {
		return p.h.Settle(ctx)
	}
	return p.Pass.SettleUsers(ctx, settled, touched)
}

func (p pass) Finish(ctx context.Context, r storage.Run) error {
	err := p.Pass.Finish(ctx, r)
	if p.h.End != nil {
		p.h.End()
	}
	return err
}

type org struct {
	tsync.Org
	slug string
	h    Hooks
}

func (o org) Commit(ctx context.Context, scopes []*storage.Scope) (storage.Committed, error) {
	if o.h.BeforeCommit != nil {
		o.h.BeforeCommit(ctx, o.slug)
	}
	return o.Org.Commit(ctx, scopes)
}
