package storage

import (
	"context"
	"time"

	"github.com/tursync/tursync/schema"
)

// PassOptions say how an account's pass writes.
type PassOptions struct {
	// Trigger is what sync_runs.trigger records (manual, schedule, ...).
	Trigger   string
	StartedAt time.Time
	// Guard and ForceDeletes decide the deletes of every org commit
	// (docs/reconcile.md, rule 4).
	Guard        Guard
	ForceDeletes bool
	// DryRun fetches and diffs but writes nothing: no run, no scope, no
	// row and no settlement is recorded, and each org's batch is built
	// (counts and planned changes) but never committed.
	DryRun bool
}

// Pass is one account's pass over the mirror: the account, the run and the
// options are bound once, and every write of the pass goes through it or
// through one of its orgs.
type Pass struct {
	s       *Store
	account string
	runID   int64
	o       PassOptions
}

// BeginPass checks that the mirror is still the one the process opened
// (a mirror deleted or replaced under it would take the pass's writes into
// a file nobody reads again) and records the start of an account's pass.
// A dry run records nothing, and its RunID is 0.
func (s *Store) BeginPass(ctx context.Context, account string, o PassOptions) (*Pass, error) {
	if err := s.CheckIdentity(ctx); err != nil {
		return nil, err
	}
	p := &Pass{s: s, account: account, o: o}
	if o.DryRun {
		return p, nil
	}
	id, err := s.startRun(ctx, account, o.Trigger, o.StartedAt)
	if err != nil {
		return nil, err
	}
	p.runID = id
	return p, nil
}

// RunID is the pass's sync_runs id (0 for a dry run).
func (p *Pass) RunID() int64 { return p.runID }

// ApplyAccount writes the account-wide rows that belong to no org scope:
// the role constants and the locations list (none when locs is empty).
func (p *Pass) ApplyAccount(ctx context.Context, roles []schema.Role, locs []schema.Location) (Counts, error) {
	if p.o.DryRun {
		return Counts{}, nil
	}
	c, err := p.s.applyAccount(ctx, p.account, p.runID, roles, locs)
	return c, p.s.explainWrite(err)
}

// SettleUsers recomputes the status of the account's users once its orgs
// are written; settledOrgs are the orgs whose members and invites
// completed, and touched says the pass wrote users or role assignments
// (see settle).
func (p *Pass) SettleUsers(ctx context.Context, settledOrgs map[string]bool, touched bool) (Settlement, error) {
	if p.o.DryRun {
		return Settlement{}, nil
	}
	return p.s.settle(ctx, p.account, p.runID, p.o.StartedAt, settledOrgs, touched)
}

// Finish records the end of the pass (r.ID is the pass's).
func (p *Pass) Finish(ctx context.Context, r Run) error {
	if p.o.DryRun {
		return nil
	}
	r.ID = p.runID
	return p.s.finishRun(ctx, r)
}

// Lookup reads what the mirror held of the account before the pass wrote.
func (p *Pass) Lookup() *Lookup { return &Lookup{p: p} }

// Org is the pass's handle on one org ("" for the account's own scopes,
// such as the token's user).
func (p *Pass) Org(slug string) *OrgPass { return &OrgPass{p: p, org: slug} }

// Lookup answers the account-wide questions a pass asks of the mirror.
type Lookup struct{ p *Pass }

// Orgs are the slugs of the account's live organizations.
func (l *Lookup) Orgs(ctx context.Context) ([]string, error) {
	return l.p.s.liveOrgs(ctx, l.p.account)
}

// Users reads the account's users, to diff the members' users against.
func (l *Lookup) Users(ctx context.Context) (*Snapshot, error) {
	return l.p.s.tableSnapshot(ctx, l.p.account, "", schema.Users)
}

// UsersByEmail maps those of emails (normalized) that belong to a live
// member user of the account to its username.
func (l *Lookup) UsersByEmail(ctx context.Context, emails []string) (map[string]string, error) {
	return l.p.s.memberEmails(ctx, l.p.account, emails)
}

// OrgMembers reports which of usernames have a live membership of org.
func (l *Lookup) OrgMembers(ctx context.Context, org string, usernames []string) (map[string]bool, error) {
	return l.p.s.orgMembers(ctx, l.p.account, org, usernames)
}

// ExpectedRows is how many rows the scope's last complete pass fetched:
// the progress estimate of the next one (0 when unknown).
func (l *Lookup) ExpectedRows(ctx context.Context, org, resource string) (int64, error) {
	return l.p.s.expectedRows(ctx, l.p.account, org, resource)
}

// DetailsDue lists up to limit live databases of org whose details are
// the stalest (never refreshed first).
func (l *Lookup) DetailsDue(ctx context.Context, org string, limit int) ([]DueDatabase, error) {
	return l.p.s.detailsDue(ctx, l.p.account, org, limit)
}

// Diff classifies rows against the mirror as it is now.
func (l *Lookup) Diff(ctx context.Context, rows []schema.Row) ([]Kind, error) {
	return l.p.s.Diff(ctx, l.p.account, rows)
}

// OrgPass is one org of an account's pass: what its fetch reads of the
// mirror, and its one commit.
type OrgPass struct {
	p   *Pass
	org string
}

// Snapshot reads the org's rows of the table a resource's scope fills,
// for the fetch to diff its pages against.
func (o *OrgPass) Snapshot(ctx context.Context, resource string) (*Snapshot, error) {
	return o.p.s.scopeSnapshot(ctx, o.p.account, o.org, resource)
}

// UsageSnapshot reads the org's usage counters of day.
func (o *OrgPass) UsageSnapshot(ctx context.Context, day string) (*UsageSnapshot, error) {
	return o.p.s.usageSnapshot(ctx, o.p.account, o.org, day)
}

// AuditHighWater is the newest audit event time stored for the org, or "".
func (o *OrgPass) AuditHighWater(ctx context.Context) (string, error) {
	return o.p.s.auditHighWater(ctx, o.p.account, o.org)
}

// Stage diffs rows against the mirror and keeps what the commit writes.
// A dry run stages in memory too: nothing is written until the commit.
func (o *OrgPass) Stage(ctx context.Context, rows []schema.Row) (*Staged, error) {
	return o.p.s.stageRows(ctx, o.p.account, rows)
}

// Committed is what an org's commit did.
type Committed struct {
	// Scopes are the scopes recorded; an offboarding's one scope.
	Scopes []*Scope
	// Took is how long the write transaction held the lock.
	Took time.Duration
	// NearTimeout says the commit, on a libSQL server, came close to the
	// server's transaction timeout (TxnWarnAfter).
	NearTimeout bool
	// TouchesUsers says the commit wrote, or would have written, users or
	// role assignments: the account's users must then be settled again.
	TouchesUsers bool
}

// Commit writes the org's scopes in one transaction (see commitOrg). On
// a mirror error nothing of the org is written; the caller fails the
// scopes and records them with Abandon.
func (o *OrgPass) Commit(ctx context.Context, scopes []*Scope) (Committed, error) {
	return o.p.s.commitOrg(ctx, o.commit(scopes, false))
}

// Offboard tombstones every row of an org the API confirmed gone (reason
// organization_removed), subject to the delete guard (docs/reconcile.md,
// rule 10), and records it as the org's one scope.
func (o *OrgPass) Offboard(ctx context.Context) (Committed, error) {
	return o.p.s.commitOrg(ctx, o.commit(nil, true))
}

// Abandon records the scopes of an org the pass writes nothing of (the
// token was refused, the org is unknown, or its commit failed), so
// /status and the alerts show them.
func (o *OrgPass) Abandon(ctx context.Context, scopes []*Scope) error {
	if o.p.o.DryRun {
		return nil
	}
	return o.p.s.recordScopes(ctx, o.p.account, o.p.runID, o.org, scopes)
}

func (o *OrgPass) commit(scopes []*Scope, offboard bool) *orgCommit {
	return &orgCommit{account: o.p.account, org: o.org, runID: o.p.runID, guard: o.p.o.Guard, forceDeletes: o.p.o.ForceDeletes,
		dryRun: o.p.o.DryRun, scopes: scopes, offboard: offboard}
}
