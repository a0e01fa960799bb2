// Package sync runs one pass of an account: the plan of orgs and
// resources, the fetches, the scopes and their statuses, and each org's
// commit through the pass's storage handle. It declares what it needs of
// the mirror (Mirror, Pass, Lookup, Org), so its tests can wrap them.
package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	stdsync "sync"
	"time"

	"github.com/tursync/tursync/lease"
	"github.com/tursync/tursync/mapper"
	"github.com/tursync/tursync/metrics"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
)

// Mirror is what a Syncer needs of the mirror: the leases that keep one
// writer per account, a pass per account, and the live row counts its
// metrics report. MirrorOf adapts a *storage.Store.
type Mirror interface {
	lease.Store
	BeginPass(ctx context.Context, account string, o storage.PassOptions) (Pass, error)
	LiveRows(ctx context.Context, account string) (map[string]int64, error)
}

// Pass is one account's pass over the mirror (storage.Pass): the account
// and its run are bound once.
type Pass interface {
	RunID() int64
	ApplyAccount(ctx context.Context, roles []schema.Role, locs []schema.Location) (storage.Counts, error)
	Lookup() Lookup
	Org(slug string) Org
	SettleUsers(ctx context.Context, settledOrgs map[string]bool, touched bool) (storage.Settlement, error)
	Finish(ctx context.Context, r storage.Run) error
}

// Lookup is what a pass asks of the mirror about the account as it stood
// (storage.Lookup).
type Lookup interface {
	Orgs(ctx context.Context) ([]string, error)
	Users(ctx context.Context) (*storage.Snapshot, error)
	UsersByEmail(ctx context.Context, emails []string) (map[string]string, error)
	OrgMembers(ctx context.Context, org string, usernames []string) (map[string]bool, error)
	DetailsDue(ctx context.Context, org string, limit int) ([]storage.DueDatabase, error)
	ExpectedRows(ctx context.Context, org, resource string) (int64, error)
	Diff(ctx context.Context, rows []schema.Row) ([]storage.Kind, error)
}

// Org is one org of a pass (storage.OrgPass): what its fetch reads of the
// mirror, and its one commit.
type Org interface {
	Snapshot(ctx context.Context, resource string) (*storage.Snapshot, error)
	UsageSnapshot(ctx context.Context, day string) (*storage.UsageSnapshot, error)
	AuditHighWater(ctx context.Context) (string, error)
	Stage(ctx context.Context, rows []schema.Row) (*storage.Staged, error)
	Commit(ctx context.Context, scopes []*storage.Scope) (storage.Committed, error)
	Offboard(ctx context.Context) (storage.Committed, error)
	Abandon(ctx context.Context, scopes []*storage.Scope) error
}

// MirrorOf is the Mirror of a store: its passes and orgs as this package's
// interfaces.
func MirrorOf(st *storage.Store) Mirror { return storeMirror{st} }

type storeMirror struct{ *storage.Store }

func (m storeMirror) BeginPass(ctx context.Context, account string, o storage.PassOptions) (Pass, error) {
	p, err := m.Store.BeginPass(ctx, account, o)
	if err != nil {
		return nil, err
	}
	return storePass{p}, nil
}

type storePass struct{ *storage.Pass }

func (p storePass) Lookup() Lookup      { return p.Pass.Lookup() }
func (p storePass) Org(slug string) Org { return p.Pass.Org(slug) }

// The defaults (config.example.yaml) that a pass applies where its options are
// silent; the config's defaults are these same values.
const (
	DefaultSchedule              = "@every 15m"
	DefaultMaxConcurrentAccounts = 4
	DefaultLeaseTTL              = lease.DefaultTTL
	DefaultBackfill              = 720 * time.Hour
	DefaultGuardMaxFraction      = 0.5
	DefaultGuardMinRows          = 10
)

// StatusSkipped is a pass that did not run because another process held
// the account's lease.
const StatusSkipped = storage.StatusSkipped

// Log keys, the same on every line of a pass.
const (
	KeyAccount  = "account"
	KeyOrg      = "org"
	KeyResource = "resource"
	KeyRunID    = "run_id"
)

// Account is one linked Turso account to sync.
type Account struct {
	ID        string
	Orgs      []string // empty: every org the token sees
	Resources []string // empty: every resource
	// API is the account's Platform API client; it lives across passes in
	// the daemon, so a pass counts its own requests from Stats.
	API *turso.Client
	// Trigger is what sync_runs.trigger records of this pass; default
	// Options.Trigger.
	Trigger string
	// Started, when set, is told the pass's run id once its run began
	// (the control API answers with it).
	Started func(runID int64)
}

// Options tune a pass. Zero values take the defaults above.
type Options struct {
	Guard        storage.Guard
	ForceDeletes bool
	// Backfill is how far back the first pass reads audit logs.
	Backfill time.Duration
	// AuditOverlap re-reads this much before the high-water mark, so events
	// that arrived out of order are not missed.
	AuditOverlap time.Duration
	// OnlyOrg restricts the pass to one org slug.
	OnlyOrg string
	// StrictOrgs fails the account before any per-org request when an org
	// named by the config or OnlyOrg is not listed by the token (`tursync
	// sync` exits 2). Otherwise that org alone fails, as not_found, and the
	// others are synced (the daemon).
	StrictOrgs bool
	Trigger    string
	// MaxConcurrentAccounts bounds how many accounts Run syncs at once.
	MaxConcurrentAccounts int
	// SpillDir holds the per-org staging files; default storage.SpillDir("").
	SpillDir string
	Now      func() time.Time
	Logger   *slog.Logger
	// Metrics, when set, are updated as each scope and pass ends.
	Metrics *metrics.Metrics
	// AfterPass, when set, runs after each account's pass is recorded and
	// before its lease is released, with the pass's result (not for a dry
	// run): what policy evaluation hangs on.
	AfterPass func(ctx context.Context, account string, res Result)
	// Stop, when closed, lets the org being synced finish but starts no
	// other: the daemon's graceful shutdown.
	Stop <-chan struct{}
	// ValidateEvery is how often an account's token is checked with
	// /v1/auth/validate for its expiry (the daemon's metric); 0 never
	// does. A revoked token is caught by the first call of any pass.
	ValidateEvery time.Duration
	// LocationsEvery is how often the shared locations list is refreshed;
	// default 24h.
	LocationsEvery time.Duration
	// Owner names this process in the mirror's leases; default
	// storage.NewOwner().
	Owner string
	// LeaseTTL is how long an account's lease outlives its owner's last
	// renewal; default 30s. It is renewed every third of it.
	LeaseTTL time.Duration
	// LeaseWait is how long a pass waits for a lease another process holds
	// before it gives up as skipped; 0 gives up at once (the daemon tries
	// again at its next tick).
	LeaseWait time.Duration
	// OnProgress, when set, hears each step of a pass (the terminal's
	// progress bars). It is called on the pass's goroutines and must not
	// block.
	OnProgress func(ProgressEvent)
	// ProgressLogs logs when each org and resource starts and ends at info
	// instead of debug.
	ProgressLogs bool
	// DetailsBudget is how many requests an account pass may spend on
	// database_details; default DefaultDetailsBudget.
	DetailsBudget int
	// DryRun fetches and diffs but writes nothing (storage.PassOptions):
	// it takes no lease, records no run and settles no user.
	DryRun bool
}

// ErrStopped ends a pass that a shutdown interrupted between two orgs.
var ErrStopped = errors.New("pass stopped by shutdown before every org was synced")

// Interrupted is the cause a pass's context is cancelled with when a
// signal (`tursync sync`) or the daemon's shutdown timeout stops it: the
// pass is then recorded interrupted, not failed, and its cut scopes are
// not blamed on the network.
type Interrupted struct {
	By string // "SIGINT", "SIGTERM", "shutdown timeout"
}

func (e *Interrupted) Error() string { return "interrupted by " + e.By }

// interruption is the Interrupted that cancelled ctx, or nil.
func interruption(ctx context.Context) *Interrupted {
	var in *Interrupted
	if errors.As(context.Cause(ctx), &in) {
		return in
	}
	return nil
}

// Syncer runs passes against a mirror.
type Syncer struct {
	store  Mirror
	o      Options
	leases *lease.Holder // the accounts' leases
	// mu guards what need not cost a request or a write on every pass:
	// the locations list, each token's validation, each account's roles.
	mu          stdsync.Mutex
	locationsAt time.Time
	validatedAt map[string]time.Time
	roles       map[string]bool      // accounts whose roles this process wrote
	inflight    map[string]*Progress // the passes running now, by account
}

// New returns a Syncer.
func New(store Mirror, o Options) *Syncer {
	if o.Guard == (storage.Guard{}) {
		o.Guard = storage.Guard{MaxFraction: DefaultGuardMaxFraction, MinRows: DefaultGuardMinRows}
	}
	if o.Backfill <= 0 {
		o.Backfill = DefaultBackfill
	}
	if o.AuditOverlap <= 0 {
		o.AuditOverlap = 10 * time.Minute
	}
	if o.Trigger == "" {
		o.Trigger = "manual"
	}
	if o.MaxConcurrentAccounts <= 0 {
		o.MaxConcurrentAccounts = DefaultMaxConcurrentAccounts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LocationsEvery <= 0 {
		o.LocationsEvery = 24 * time.Hour
	}
	if o.Owner == "" {
		o.Owner = storage.NewOwner()
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.DetailsBudget <= 0 {
		o.DetailsBudget = DefaultDetailsBudget
	}
	lo := lease.Options{Owner: o.Owner, TTL: o.LeaseTTL, Wait: o.LeaseWait, Logger: o.Logger}
	if o.Metrics != nil {
		lo.Observer = o.Metrics
	}
	return &Syncer{store: store, o: o, leases: lease.New(store, lo), validatedAt: map[string]time.Time{}, roles: map[string]bool{},
		inflight: map[string]*Progress{}}
}

// Result is what one account pass did.
type Result struct {
	Account string
	RunID   int64
	Status  string // complete, partial or failed
	Err     error  // account-level failure (auth, org list, mirror)
	Orgs    []OrgResult
	// Counts are every row the pass wrote, whatever its table; Written
	// splits the scopes' and the users' settlement by label
	// (schema.Resource.LabelOf), as tursync_rows_written_total does.
	Counts     storage.Counts
	Written    storage.Tally
	Stats      turso.Stats
	TokenExp   int64
	StartedAt  time.Time
	FinishedAt time.Time
	// usersSettled: the pass's user settlement left no user unsettled.
	usersSettled bool
}

// OrgResult is one org's part of a pass.
type OrgResult struct {
	Org     string
	Scopes  []*storage.Scope
	Removed bool // offboarded: the org vanished from the API
	Err     error
	// touchesUsers: the org's commit wrote, or may have written, users or
	// role assignments.
	touchesUsers bool
}

// written is the pass's Written, made on first use.
func (r *Result) written() storage.Tally {
	if r.Written == nil {
		r.Written = storage.Tally{}
	}
	return r.Written
}

// OrgCount is how many orgs a pass handled: the account-wide scopes are
// not an org.
func (r Result) OrgCount() int {
	n := 0
	for _, or := range r.Orgs {
		if or.Org != "" {
			n++
		}
	}
	return n
}

// touchesUsers reports whether any org of a pass wrote users or role
// assignments.
func touchesUsers(orgs []OrgResult) bool {
	for _, or := range orgs {
		if or.touchesUsers {
			return true
		}
	}
	return false
}

// Failed reports whether any scope failed or the account failed.
func (r Result) Failed() bool { return r.Status != storage.StatusComplete }

// Run syncs every account, at most MaxConcurrentAccounts at once. One
// account's failure never stops the others.
func (s *Syncer) Run(ctx context.Context, accounts []Account) []Result {
	out := make([]Result, len(accounts))
	sem := make(chan struct{}, s.o.MaxConcurrentAccounts)
	var wg stdsync.WaitGroup
	for i, a := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i] = Result{Account: a.ID, Status: storage.StatusFailed, Err: ctx.Err()}
				if in := interruption(ctx); in != nil {
					out[i].Status, out[i].Err = storage.StatusInterrupted, fmt.Errorf("%w before the pass began: nothing of the account was fetched or written", in)
				}
				return
			}
			defer func() { <-sem }()
			out[i] = s.SyncAccount(ctx, a)
		}()
	}
	wg.Wait()
	return out
}

// What sync_runs.trigger records of the daemon's passes.
const (
	TriggerStartup  = "startup"  // an account's first pass when the daemon starts
	TriggerReload   = "reload"   // the first pass of an account a reload added
	TriggerSchedule = "schedule" // every later pass
)

// SyncAccount runs one pass over an account.
func (s *Syncer) SyncAccount(ctx context.Context, a Account) (res Result) {
	trigger := a.Trigger
	if trigger == "" {
		trigger = s.o.Trigger
	}
	res = Result{Account: a.ID, StartedAt: s.o.Now(), Status: storage.StatusComplete}
	log := s.o.Logger.With(KeyAccount, a.ID)
	// failed records a pass that failed before its run began.
	failed := func(err error) Result {
		res.Status, res.Err = storage.StatusFailed, err
		log.Error("sync failed", "error", err)
		s.recordPass(ctx, res, log)
		return res
	}
	if !s.o.DryRun { // a dry run writes nothing, so it needs no lease
		var release func()
		var err error
		ctx, release, err = s.leases.Hold(ctx, a.ID)
		var held *storage.LeaseHeldError
		if errors.As(err, &held) {
			res.Status, res.Err = StatusSkipped, err
			return res
		}
		if err != nil {
			return failed(err)
		}
		defer release()
		if s.o.AfterPass != nil {
			// Deferred after release, so it runs before it, and after the
			// pass is recorded (finishPass is deferred later still).
			defer func() { s.o.AfterPass(ctx, a.ID, res) }()
		}
	}
	p, err := s.store.BeginPass(ctx, a.ID, storage.PassOptions{Trigger: trigger, StartedAt: res.StartedAt, Guard: s.o.Guard,
		ForceDeletes: s.o.ForceDeletes, DryRun: s.o.DryRun})
	if err != nil {
		return failed(err)
	}
	res.RunID = p.RunID()
	log = log.With(KeyRunID, res.RunID)
	if a.Started != nil {
		a.Started(res.RunID)
	}
	tr := s.track(a.ID, p.Lookup(), log)
	defer tr.done()
	ctx = withTracker(ctx, tr)
	// A client lives across passes in the daemon: count this pass only.
	before := a.API.Stats()
	defer func() { s.finishPass(ctx, p, &res, a.API.Stats().Since(before), log) }()
	if err := s.runPass(ctx, a, p, &res, log); err != nil {
		res.Status, res.Err = storage.StatusFailed, err
	}
	return res
}

// runPass is the account's pass inside its run: the token check, the org
// plan, the account-wide rows, every org, the users' settlement. An error
// fails the pass as a whole; an org or a scope that fails alone is in res.
func (s *Syncer) runPass(ctx context.Context, a Account, p Pass, res *Result, log *slog.Logger) error {
	if s.validateDue(a.ID) {
		exp, err := a.API.ValidateToken(ctx)
		if err != nil {
			s.mu.Lock()
			delete(s.validatedAt, a.ID) // the next pass tries again
			s.mu.Unlock()
			return fmt.Errorf("validate token of account %s: %w", a.ID, err)
		}
		res.TokenExp = exp
	}
	orgs, err := s.plan(ctx, a, p.Lookup())
	if err != nil {
		return err
	}
	if unknown := unknownOrgs(orgs); len(unknown) > 0 && s.o.StrictOrgs {
		return errors.Join(unknown...)
	}
	written, err := s.applyAccount(ctx, a, p, log)
	if err != nil {
		return err
	}
	stop := s.syncAccountScopes(ctx, a, p, res, log)
	if err := written(res); err != nil {
		return err
	}
	if stop {
		return nil // res says why
	}
	pf, err := s.prefetch(ctx, a, p, orgs)
	if err != nil {
		return err
	}
	defer pf.close()
	settled, stop := s.syncOrgs(ctx, a, p, orgs, pf, res, log)
	if stop {
		return nil // syncOrgs has said why in res
	}
	st, err := p.SettleUsers(ctx, settled, touchesUsers(res.Orgs))
	if err != nil {
		return err
	}
	res.Counts.Add(st.Counts)
	res.written().Add(schema.UsersLabel, st.Counts)
	s.o.Metrics.RowsWritten(schema.UsersLabel, st.Counts.Created, st.Counts.Updated, st.Counts.Deleted)
	res.usersSettled = st.Settled
	return nil
}

// applyAccount writes what belongs to the account rather than an org: the
// role constants and the shared locations list, each only when due. The
// write goes on while the pass reads the account's own scopes (nothing
// else of the pass depends on it); written waits for it and adds its
// counts to res.
func (s *Syncer) applyAccount(ctx context.Context, a Account, p Pass, log *slog.Logger) (written func(res *Result) error, err error) {
	var locs []turso.Location
	if s.dueLocations() {
		// Locations are a reference list shared by all accounts: one
		// request per process and day, not one per pass.
		locs, err = a.API.ListLocations(ctx)
		if err != nil {
			s.mu.Lock()
			s.locationsAt = time.Time{}
			s.mu.Unlock()
			if turso.ClassOf(err) == turso.ClassAuth {
				return nil, err
			}
			// A failure here leaves the stored list and costs no scope.
			log.Warn("locations not refreshed", "error", err)
		}
	}
	// The roles are constants: written once per process and account, and
	// again only with a fresh locations list.
	if locs == nil && s.rolesWritten(a.ID) {
		return func(*Result) error { return nil }, nil
	}
	done := make(chan struct{})
	var c storage.Counts
	var werr error
	go func() {
		defer close(done)
		c, werr = p.ApplyAccount(ctx, mapper.Roles(), mapper.Locations(locs))
	}()
	return func(res *Result) error {
		<-done
		if werr != nil {
			return werr
		}
		res.Counts.Add(c)
		s.mu.Lock()
		s.roles[a.ID] = true
		s.mu.Unlock()
		return nil
	}, nil
}

// syncOrgs syncs the planned orgs one by one into res and returns those
// whose users may be settled. stop reports a failure that ends the whole
// pass (a lost lease, a revoked token): res says which.
func (s *Syncer) syncOrgs(ctx context.Context, a Account, p Pass, orgs []plannedOrg, pf *prefetched,
	res *Result, log *slog.Logger) (settled map[string]bool, stop bool) {
	settled = map[string]bool{}
	tr := trackerOf(ctx)
	for i, po := range orgs {
		if s.stopping() {
			res.Status, res.Err = storage.StatusInterrupted, ErrStopped
			break
		}
		tr.orgStart(po.slug, i+1, len(orgs))
		or := s.syncOrg(ctx, a, p, po, pf, log.With(KeyOrg, po.slug))
		if s.addOrg(res, or) {
			return settled, true
		}
		if orgSettled(or) {
			settled[po.slug] = true
		}
	}
	return settled, false
}

// addOrg adds an org's (or the account's own scopes') result to the pass,
// and reports a failure that ends the whole pass.
func (s *Syncer) addOrg(res *Result, or OrgResult) (stop bool) {
	res.Orgs = append(res.Orgs, or)
	s.recordOrg(res.Account, or)
	for _, sc := range or.Scopes {
		if sc.Written == nil {
			res.Counts.Add(sc.Counts) // not written: what the scope counted, zero
		}
		for label, c := range sc.Written {
			res.Counts.Add(c)
			res.written().Add(label, c)
		}
		if sc.Status == storage.StatusFailed {
			res.Status = storage.StatusPartial
		}
	}
	if or.Err == nil {
		return false
	}
	res.Status = storage.StatusPartial
	// A lost lease ends the pass; rule 7: a revoked token fails the whole
	// account and keeps its data as it was.
	if errors.Is(or.Err, storage.ErrLeaseLost) || turso.ClassOf(or.Err) == turso.ClassAuth {
		res.Status, res.Err = storage.StatusFailed, or.Err
		return true
	}
	return false
}

// syncAccountScopes reads and writes the per-account resources (the
// token's user), recorded as the scopes of organization_id ”.
func (s *Syncer) syncAccountScopes(ctx context.Context, a Account, p Pass, res *Result, log *slog.Logger) (stop bool) {
	org := p.Org("")
	scopes, authErr := s.fetchScopes(ctx, fetchJob{a: a, o: org}, true, log)
	if len(scopes) == 0 {
		return false
	}
	or := OrgResult{Scopes: scopes}
	if authErr != nil {
		or.Err = authErr
		if err := org.Abandon(ctx, scopes); err != nil {
			log.Error("record failed scopes", "error", err)
		}
	} else {
		s.writeOrg(ctx, org, &or, log)
	}
	for _, sc := range scopes {
		sc.Rows = nil
	}
	return s.addOrg(res, or)
}

// finishPass records the end of a pass: its run row (even when ctx was
// cancelled mid-pass), its metrics and its summary line. stats are the
// pass's own API requests.
func (s *Syncer) finishPass(ctx context.Context, p Pass, res *Result, stats turso.Stats, log *slog.Logger) {
	if cause := context.Cause(ctx); errors.Is(cause, storage.ErrLeaseLost) && !errors.Is(res.Err, storage.ErrLeaseLost) {
		// The pass stopped because another process took the account:
		// whatever it did not commit is that process's to write. A step
		// the lost lease cancelled says only "context canceled": the run
		// records why.
		if res.Err != nil {
			cause = fmt.Errorf("%w (%w)", cause, res.Err)
		}
		res.Status, res.Err = storage.StatusFailed, cause
	} else if in := interruption(ctx); in != nil {
		res.Status, res.Err = storage.StatusInterrupted, fmt.Errorf("%w: %s", in, interruptedSummary(*res))
	}
	res.FinishedAt = s.o.Now()
	res.Stats = stats
	run := storage.Run{Status: res.Status, FinishedAt: res.FinishedAt, APIRequests: stats.Requests,
		APIRetries: stats.Retries, RateLimitedSeconds: stats.RateLimitedSeconds, Counts: res.Counts, UsersSettled: res.usersSettled}
	if res.TokenExp > 0 {
		run.TokenExpiresAt = time.Unix(res.TokenExp, 0)
	}
	if res.Err != nil {
		run.Error = res.Err.Error()
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := p.Finish(fctx, run); err != nil && res.Err == nil {
		res.Status, res.Err = storage.StatusFailed, err
	}
	s.recordPass(ctx, *res, log)
	lvl := slog.LevelInfo
	switch res.Status {
	case storage.StatusFailed:
		lvl = slog.LevelError
	case storage.StatusPartial, storage.StatusInterrupted:
		lvl = slog.LevelWarn
	}
	log.Log(ctx, lvl, "account pass", "status", res.Status, "orgs", res.OrgCount(), "created", res.Counts.Created, "updated", res.Counts.Updated,
		"deleted", res.Counts.Deleted, "unchanged", res.Counts.Unchanged, "api_requests", stats.Requests,
		"duration", res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond).String(), "error", errString(res.Err))
}

// interruptedSummary says what an interrupted pass wrote and what it did
// not: each org commits alone, so those written stay.
func interruptedSummary(res Result) string {
	var written, cut []string
	for _, or := range res.Orgs {
		if or.Org == "" {
			continue // the account-wide rows, not an org
		}
		if or.Err == nil {
			written = append(written, or.Org)
		} else {
			cut = append(cut, or.Org)
		}
	}
	switch {
	case len(written) == 0:
		return "no org was written; the next pass syncs them all"
	case len(cut) == 0:
		return fmt.Sprintf("%d orgs written (%s); the next pass syncs the rest", len(written), strings.Join(written, ", "))
	}
	return fmt.Sprintf("%d orgs written (%s), %s not; the next pass syncs the rest", len(written), strings.Join(written, ", "),
		strings.Join(cut, ", "))
}

// validateDue reports whether the account's token is due for validation,
// and marks it validated now.
func (s *Syncer) validateDue(account string) bool {
	if s.o.ValidateEvery <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.validatedAt[account]; ok && s.o.Now().Sub(last) < s.o.ValidateEvery {
		return false
	}
	s.validatedAt[account] = s.o.Now()
	return true
}

func (s *Syncer) rolesWritten(account string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roles[account]
}

func (s *Syncer) dueLocations() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.locationsAt.IsZero() && s.o.Now().Sub(s.locationsAt) < s.o.LocationsEvery {
		return false
	}
	s.locationsAt = s.o.Now()
	return true
}

func (s *Syncer) stopping() bool {
	select {
	case <-s.o.Stop:
		return true
	default:
		return false
	}
}

// recordOrg updates the scope metrics of one org's pass.
func (s *Syncer) recordOrg(account string, or OrgResult) {
	if s.o.Metrics == nil {
		return
	}
	if or.Removed {
		s.o.Metrics.OrgRemoved(account, or.Org)
	}
	for _, sc := range or.Scopes {
		s.o.Metrics.ScopeDone(metrics.Scope{Account: account, Org: or.Org, Resource: sc.Resource, Status: sc.Status,
			Duration: sc.FinishedAt.Sub(sc.StartedAt), Finished: sc.FinishedAt,
			Created: sc.Counts.Created, Updated: sc.Counts.Updated, Deleted: sc.Counts.Deleted})
		for label, c := range sc.Written {
			if label != sc.Resource {
				s.o.Metrics.RowsWritten(label, c.Created, c.Updated, c.Deleted)
			}
		}
	}
}

// recordPass updates the pass metrics and the mirror's live row counts.
func (s *Syncer) recordPass(ctx context.Context, res Result, log *slog.Logger) {
	if s.o.Metrics == nil {
		return
	}
	s.o.Metrics.PassDone(metrics.Pass{Account: res.Account, Status: res.Status, TokenExpiry: res.TokenExp,
		Up: res.Err == nil || errors.Is(res.Err, ErrStopped)})
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	counts, err := s.store.LiveRows(cctx, res.Account)
	if err != nil {
		log.Warn("count mirror rows", "error", err)
		return
	}
	for resource, n := range counts {
		s.o.Metrics.MirrorRows(res.Account, resource, n)
	}
}

// orgSettled reports whether users may be recomputed from the org: its
// members and invites scopes completed (invites may be unavailable by plan,
// which leaves nothing of them to be stale).
func orgSettled(or OrgResult) bool {
	if or.Err != nil {
		return false
	}
	if or.Removed {
		return true
	}
	// Every resource users come from must have settled, and be synced.
	need := 0
	for _, r := range registry {
		if r.settles != nil {
			need++
		}
	}
	ok := 0
	for _, sc := range or.Scopes {
		if r := resourceNamed(sc.Resource); r != nil && r.settles != nil && r.settles(sc.Status) {
			ok++
		}
	}
	return ok == need
}

type plannedOrg struct {
	slug     string
	vanished bool // in the mirror but no longer listed by the token
	// unknown: configured (or --org) but neither listed by the token nor
	// in the mirror; no request is made for it.
	unknown *UnknownOrgError
}

// plan decides which orgs this pass visits: the configured ones (or every
// org the token lists), plus mirrored orgs the token no longer lists, which
// are checked for offboarding. A named org that is neither listed nor
// mirrored is planned as unknown.
func (s *Syncer) plan(ctx context.Context, a Account, lk Lookup) ([]plannedOrg, error) {
	listed, err := a.API.ListOrganizations(ctx)
	if err != nil {
		return nil, fmt.Errorf("list organizations of account %s: %w", a.ID, err)
	}
	slugs := OrgSlugs(listed)
	live, err := lk.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	named := func(slug string) plannedOrg {
		switch {
		case slices.Contains(slugs, slug):
			return plannedOrg{slug: slug}
		case slices.Contains(live, slug):
			return plannedOrg{slug: slug, vanished: true}
		}
		return plannedOrg{slug: slug, unknown: &UnknownOrgError{Account: a.ID, Org: slug, Visible: slugs}}
	}
	if s.o.OnlyOrg != "" {
		return []plannedOrg{named(s.o.OnlyOrg)}, nil
	}
	var out []plannedOrg
	if len(a.Orgs) > 0 {
		for _, slug := range a.Orgs {
			out = append(out, named(slug))
		}
		return out, nil // mirrored orgs not configured any more stay until `tursync prune`
	}
	for _, slug := range slugs {
		out = append(out, plannedOrg{slug: slug})
	}
	for _, slug := range live {
		if !slices.Contains(slugs, slug) {
			out = append(out, plannedOrg{slug: slug, vanished: true})
		}
	}
	return out, nil
}

// unknownOrgs returns the orgs of the plan that the token does not list.
func unknownOrgs(orgs []plannedOrg) []error {
	var out []error
	for _, po := range orgs {
		if po.unknown != nil {
			out = append(out, po.unknown)
		}
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// scopeStatus maps a fetch error to the scope's status and class.
func scopeStatus(err error) (status, class string) {
	if err == nil {
		return storage.StatusComplete, ""
	}
	c := turso.ClassOf(err)
	switch c {
	case turso.ClassPlan, turso.ClassForbidden:
		return storage.StatusUnavailable, string(c)
	case "":
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return storage.StatusFailed, string(turso.ClassNetwork)
		}
		return storage.StatusFailed, storage.ClassMirror
	}
	return storage.StatusFailed, string(c)
}
