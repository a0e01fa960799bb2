package sync

import (
	"context"
	"time"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// DryRun wraps a Store so a pass fetches and diffs but writes nothing: an
// org's pass is planned with storage.OrgPass.DryRun set, so its batch is
// built (counts and planned changes) but never committed and no stage row
// is written; run records, scopes, leases and the users' settlement are
// skipped.
func DryRun(s Store) Store { return dryStore{s} }

type dryStore struct{ Store }

func (d dryStore) StartRun(context.Context, string, string, time.Time) (int64, error) { return 0, nil }
func (d dryStore) FinishRun(context.Context, storage.Run) error                       { return nil }
func (d dryStore) ApplyAccount(context.Context, string, int64, []schema.Role, []schema.Location) (storage.Counts, error) {
	return storage.Counts{}, nil
}
func (d dryStore) ApplyOrg(ctx context.Context, p *storage.OrgPass) error {
	p.DryRun = true
	return d.Store.ApplyOrg(ctx, p)
}
func (d dryStore) RecordFailedScopes(context.Context, string, int64, string, []*storage.Scope) error {
	return nil
}
func (d dryStore) SettleUsers(context.Context, string, int64, time.Time, map[string]bool, bool) (storage.Settlement, error) {
	return storage.Settlement{}, nil
}

// A dry run writes nothing, so it needs no lease and takes none.
func (d dryStore) AcquireLease(_ context.Context, account, owner string, _ time.Duration) (*storage.Lease, error) {
	return &storage.Lease{Account: account, Owner: owner}, nil
}
func (d dryStore) RenewLease(context.Context, *storage.Lease, time.Duration) error { return nil }
func (d dryStore) ReleaseLease(context.Context, *storage.Lease) error              { return nil }

// ExpectedRows passes the estimate through: a dry run shows progress too.
func (d dryStore) ExpectedRows(ctx context.Context, account, org, resource string) (int64, error) {
	if er, ok := d.Store.(ExpectedRows); ok {
		return er.ExpectedRows(ctx, account, org, resource)
	}
	return 0, nil
}
