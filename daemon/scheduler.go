package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/tursync/tursync/lease"
	tsync "github.com/tursync/tursync/sync"

	"github.com/robfig/cron/v3"

	"github.com/tursync/tursync/metrics"
	"github.com/tursync/tursync/storage"
)

// Job is one account's scheduled pass.
type Job struct {
	ID       string
	Schedule string
	// Account builds the account for one pass. It is called at every pass,
	// so a rotated token file is read again and needs no restart.
	Account func() (tsync.Account, error)
	// Orgs and Resources are the account's configured ones (empty: all);
	// the series of scopes outside them are deleted.
	Orgs, Resources []string
}

// syncs reports whether the job's passes sync the scope.
func (j Job) syncs(org, resource string) bool {
	return (len(j.Orgs) == 0 || slices.Contains(j.Orgs, org)) && (len(j.Resources) == 0 || slices.Contains(j.Resources, resource))
}

// StatusStore is what /status reads of the mirror.
type StatusStore interface {
	ScopeHealth(ctx context.Context) ([]storage.ScopeHealth, error)
	LastRuns(ctx context.Context) (map[string]storage.RunRecord, error)
	Leases(ctx context.Context) ([]storage.LeaseInfo, error)
	Extracts() *storage.Extracts // the tasks' last runs
	Controls() *storage.Controls // pauses and sync requests
}

// Scheduler runs each account's passes on its cron schedule, at most
// MaxConcurrentAccounts at once. A pass that panics or fails is logged and
// counted and never stops the others.
type Scheduler struct {
	store   StatusStore
	log     *slog.Logger
	metrics *metrics.Metrics
	now     func() time.Time
	cron    *cron.Cron
	sem     chan struct{}

	// ctx ends in-flight passes when the shutdown timeout runs out; stop
	// closes first, so passes finish their current org and start no other.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// configStatus is the last config reload's outcome (SetConfigStatus).
	configStatus atomic.Pointer[ConfigStatus]
	stop         chan struct{}

	mu      stdsync.Mutex
	syncer  *tsync.Syncer
	leases  *lease.Holder // the tasks' leases
	owner   string        // this process in the mirror's leases
	jobs    map[string]*scheduledJob
	tasks   map[string]*scheduledTask
	stopped bool
	started bool
	wg      stdsync.WaitGroup
	// webhookProbe reads the webhook endpoints' state for /status.
	webhookProbe atomic.Pointer[func(context.Context) ([]WebhookStatus, error)]
	// policyProbe reads the policies' state for /status.
	policyProbe atomic.Pointer[func(context.Context) ([]PolicyStatus, error)]
}

// SetPolicyProbe sets what /status lists under policies.
func (s *Scheduler) SetPolicyProbe(probe func(context.Context) ([]PolicyStatus, error)) {
	s.policyProbe.Store(&probe)
}

// SetWebhookProbe sets what /status lists under webhooks.
func (s *Scheduler) SetWebhookProbe(probe func(context.Context) ([]WebhookStatus, error)) {
	s.webhookProbe.Store(&probe)
}

type scheduledJob struct {
	job      Job
	interval time.Duration // between two scheduled passes
	entry    cron.EntryID
	run      cron.Job // the pass with its wrappers
	running  bool
	// busy: a pass is running or waits for a slot (scheduled or asked
	// for); another does not start meanwhile.
	busy    bool
	lastErr string // why the last pass could not start
	up      *bool
	// syncer runs the pass in flight (a reload may have replaced the
	// scheduler's since), for its progress.
	syncer *tsync.Syncer
	// trigger is what sync_runs records for the next pass: "startup" or
	// "reload" for an account's first pass in this process, then
	// "schedule".
	trigger string
}

// NewScheduler returns a Scheduler whose passes use opts; opts.Stop,
// opts.Metrics and opts.Logger are set by the scheduler's own.
func NewScheduler(store tsync.Mirror, status StatusStore, opts tsync.Options, m *metrics.Metrics) *Scheduler {
	ctx, cancel := context.WithCancelCause(context.Background())
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConcurrentAccounts <= 0 {
		opts.MaxConcurrentAccounts = tsync.DefaultMaxConcurrentAccounts
	}
	s := &Scheduler{store: status, log: opts.Logger, metrics: m, now: opts.Now,
		sem: make(chan struct{}, opts.MaxConcurrentAccounts), ctx: ctx, cancel: cancel, stop: make(chan struct{}),
		jobs: map[string]*scheduledJob{}, tasks: map[string]*scheduledTask{}}
	s.cron = cron.New(cron.WithLocation(time.UTC), cron.WithLogger(cronLogger{log: opts.Logger}))
	s.setSyncer(store, opts)
	return s
}

func (s *Scheduler) setSyncer(store tsync.Mirror, opts tsync.Options) {
	opts.Stop, opts.Metrics, opts.Trigger = s.stop, s.metrics, tsync.TriggerSchedule
	if opts.Owner == "" {
		opts.Owner = storage.NewOwner()
	}
	s.syncer, s.owner = tsync.New(store, opts), opts.Owner
	// The tasks' leases are held as the passes' are, by the same owner.
	lo := lease.Options{Owner: opts.Owner, TTL: opts.LeaseTTL, Wait: opts.LeaseWait, Logger: opts.Logger}
	if s.metrics != nil {
		lo.Observer = s.metrics
	}
	s.leases = lease.New(store, lo)
}

// SetOptions changes the options of the passes that start from now on
// (a config reload); passes in flight keep theirs.
func (s *Scheduler) SetOptions(store tsync.Mirror, opts tsync.Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setSyncer(store, opts)
}

// SetJobs makes the schedule match jobs: new accounts are added and get
// their first pass now, removed ones are unscheduled (a pass in flight
// finishes), changed schedules are replaced.
func (s *Scheduler) SetJobs(jobs []Job) error {
	type parsed struct {
		sched    cron.Schedule
		interval time.Duration
	}
	// Every schedule is checked before anything changes, so a bad reload
	// leaves the running schedule whole.
	scheds := map[string]parsed{}
	for _, j := range jobs {
		sched, interval, err := SpreadSchedule(j.ID, j.Schedule)
		if err != nil {
			return fmt.Errorf("schedule of account %s: %w", j.ID, err)
		}
		scheds[j.ID] = parsed{sched, interval}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, j := range jobs {
		want[j.ID] = true
	}
	for id, sj := range s.jobs {
		if !want[id] {
			s.cron.Remove(sj.entry)
			delete(s.jobs, id)
			s.metrics.AccountRemoved(id)
			s.log.Info("account unscheduled", tsync.KeyAccount, id)
		}
	}
	for _, j := range jobs {
		s.metrics.RetainScopes(j.ID, j.syncs)
		sched, interval := scheds[j.ID].sched, scheds[j.ID].interval
		old := s.jobs[j.ID]
		if old != nil && old.job.Schedule == j.Schedule {
			old.job = j
			continue
		}
		if old != nil {
			s.cron.Remove(old.entry)
		}
		sj := &scheduledJob{job: j, interval: interval, trigger: tsync.TriggerStartup}
		if s.started {
			sj.trigger = tsync.TriggerReload
		}
		if old != nil {
			sj.trigger = tsync.TriggerSchedule
			sj.running, sj.lastErr, sj.up = old.running, old.lastErr, old.up
		}
		id := j.ID
		run := s.wrap("account_pass", func() { s.pass(id, nil) })
		sj.run = run
		sj.entry = s.cron.Schedule(sched, run)
		s.jobs[id] = sj
		s.metrics.Scheduled(id, interval)
		s.log.Info("account scheduled", tsync.KeyAccount, id, "schedule", j.Schedule, "next", sched.Next(s.now()).Format(time.RFC3339))
		if s.started && old == nil {
			// The first pass of a new account starts now, through the
			// same wrappers, so the schedule skips while it runs.
			go run.Run()
		}
	}
	return nil
}

// Every runs fn on spec (no jitter) beside the passes, with the same panic
// recovery; the daemon prunes with it.
func (s *Scheduler) Every(spec, name string, fn func(ctx context.Context)) error {
	sched, err := ParseSchedule(spec)
	if err != nil {
		return fmt.Errorf("schedule of %s: %w", name, err)
	}
	s.cron.Schedule(sched, s.wrap(name, func() {
		if !s.enter() {
			return
		}
		defer s.wg.Done()
		fn(s.ctx)
	}))
	return nil
}

// wrap gives a job the Recover and SkipIfStillRunning wrappers: a panic is
// logged and counted under the job's name, and a run that is still going
// when the next is due makes that one skip.
func (s *Scheduler) wrap(job string, fn func()) cron.Job {
	return cron.NewChain(cron.Recover(cronLogger{log: s.log, job: job, onPanic: s.metrics.JobPanicked}),
		cron.SkipIfStillRunning(cronLogger{log: s.log})).Then(cron.FuncJob(fn))
}

// Start starts the cron and the first pass of every account.
func (s *Scheduler) Start() {
	s.mu.Lock()
	s.started = true
	var first []cron.Job
	for _, sj := range s.jobs {
		first = append(first, sj.run)
	}
	s.mu.Unlock()
	s.cron.Start()
	for _, j := range first {
		go j.Run()
	}
}

// enter registers a job with the shutdown wait group unless shutdown began.
func (s *Scheduler) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.wg.Add(1)
	return true
}

// slot waits for one of the MaxConcurrentAccounts slots that passes and
// tasks share, registered with the shutdown wait group; ok is false once
// shutdown began. release gives the slot back.
func (s *Scheduler) slot() (release func(), ok bool) {
	if !s.enter() {
		return nil, false
	}
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem; s.wg.Done() }, true
	case <-s.stop:
		s.wg.Done()
		return nil, false
	}
}

// pass runs one account's pass: a scheduled one (req nil), which skips
// while another pass of the account is busy or the account is paused, or
// one asked for (RunNow), which reserved the account and hears of the
// run's id through req.
func (s *Scheduler) pass(id string, req *passRequest) {
	defer req.answer(0, errors.New("the pass ended before it began a run (the daemon is stopping, or the account was removed)"))
	s.mu.Lock()
	sj := s.jobs[id]
	if sj == nil || (req == nil && sj.busy) {
		s.mu.Unlock()
		return // removed by a reload, or a pass of it is still going
	}
	sj.busy = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		sj.busy = false
		s.mu.Unlock()
	}()

	release, ok := s.slot()
	if !ok {
		return
	}
	defer release()
	if req == nil && s.paused(id) {
		return
	}
	s.runPass(id, sj, req)
}

// runPass runs the pass of an account pass reserved, in its slot.
func (s *Scheduler) runPass(id string, sj *scheduledJob, req *passRequest) {
	s.mu.Lock()
	if s.jobs[id] != sj {
		s.mu.Unlock()
		return // removed by a reload while waiting
	}
	syncer := s.syncer
	sj.running = true
	build := sj.job.Account
	trigger := sj.trigger
	if req != nil {
		trigger = req.trigger
	} else {
		sj.trigger = tsync.TriggerSchedule
	}
	sj.syncer = syncer
	s.mu.Unlock()

	up := false
	var buildErr error
	defer func() {
		// Deferred so that a panicking pass is not left shown as running.
		s.mu.Lock()
		defer s.mu.Unlock()
		sj.running, sj.lastErr, sj.up = false, errString(buildErr), &up
	}()
	a, buildErr := build()
	if buildErr != nil {
		s.log.Error("account pass not started", tsync.KeyAccount, id, "error", buildErr)
		s.metrics.PassDone(metrics.Pass{Account: id, Status: storage.StatusFailed})
		req.answer(0, buildErr)
		return
	}
	a.Trigger = trigger
	if req != nil {
		a.Started = func(runID int64) {
			s.log.Info("account pass asked for", tsync.KeyAccount, id, tsync.KeyRunID, runID, "trigger", req.trigger, "by", req.by)
			req.answer(runID, nil)
		}
	}
	res := syncer.SyncAccount(s.ctx, a)
	up = res.Err == nil || errors.Is(res.Err, tsync.ErrStopped)
	switch {
	case res.Status == tsync.StatusSkipped:
		req.answer(0, fmt.Errorf("%w: %v", ErrPassRunning, res.Err))
		// Another daemon syncs the account now: its health is unchanged.
		s.mu.Lock()
		up = sj.up == nil || *sj.up
		s.mu.Unlock()
	case res.Err != nil:
		req.answer(0, res.Err)
	}
}

// ErrShutdownTimeout means passes were still running when the shutdown
// timeout ran out; they were cancelled and their open org rolled back.
var ErrShutdownTimeout = errors.New("shutdown timeout: in-flight passes cancelled, their open org rolled back")

// Shutdown stops scheduling, lets every pass finish the org it is writing
// and start no other, and after timeout cancels what still runs (an org's
// transaction then rolls back). It returns once every pass has ended.
func (s *Scheduler) Shutdown(timeout time.Duration) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	close(s.stop)
	s.mu.Unlock()
	s.cron.Stop()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		s.cancel(nil)
		return nil
	case <-t.C:
		s.cancel(&tsync.Interrupted{By: "the shutdown timeout"})
		<-done
		return ErrShutdownTimeout
	}
}

// Alive reports an error once the scheduler stopped.
func (s *Scheduler) Alive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.started:
		return errors.New("scheduler not started")
	case s.stopped:
		return errors.New("scheduler stopped")
	}
	return nil
}

// SeedMetrics sets each scope's last-success time from the mirror, so that
// a restart keeps the age of every scope.
func (s *Scheduler) SeedMetrics(ctx context.Context) error {
	hs, err := s.store.ScopeHealth(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range hs {
		// Only scopes someone syncs: series of removed accounts, resources
		// or orgs, or of offboarded orgs, would go stale and alert.
		if sj := s.jobs[h.Account]; sj != nil && sj.job.syncs(h.Org, h.Resource) && !h.OrgGone {
			s.metrics.Seed(metrics.ScopeSeed{Account: h.Account, Org: h.Org, Resource: h.Resource, LastStatus: h.LastStatus,
				LastSuccess: h.LastCompleteAt, LastAttempt: h.LastAttemptAt})
		}
	}
	return nil
}

// SetConfigStatus records the outcome of a config reload for /status.
func (s *Scheduler) SetConfigStatus(c ConfigStatus) { s.configStatus.Store(&c) }

// StatusProbe is Status as the HTTP handlers take it (metrics.Probes).
func (s *Scheduler) StatusProbe(ctx context.Context) (any, error) { return s.Status(ctx) }

// Status builds the /status document from the schedule and the mirror.
func (s *Scheduler) Status(ctx context.Context) (Status, error) {
	hs, err := s.store.ScopeHealth(ctx)
	if err != nil {
		return Status{}, err
	}
	runs, err := s.store.LastRuns(ctx)
	if err != nil {
		return Status{}, err
	}
	leases, err := s.store.Leases(ctx)
	if err != nil {
		return Status{}, err
	}
	extracts, err := s.taskStatus(ctx)
	if err != nil {
		return Status{}, err
	}
	controls, err := s.store.Controls().List(ctx)
	if err != nil {
		return Status{}, err
	}
	webhooks := []WebhookStatus{}
	if probe := s.webhookProbe.Load(); probe != nil {
		if webhooks, err = (*probe)(ctx); err != nil {
			return Status{}, err
		}
	}
	policies := []PolicyStatus{}
	if probe := s.policyProbe.Load(); probe != nil {
		if policies, err = (*probe)(ctx); err != nil {
			return Status{}, err
		}
	}
	now := s.now()
	st := Status{GeneratedAt: now.UTC(), Accounts: s.accountsStatus(runs, leases, controls, now), Guarded: []GuardedScope{},
		Extracts: extracts, Webhooks: webhooks, Policies: policies, Exports: s.exportStatus(), Config: s.configStatus.Load()}
	st.addScopes(hs, now)
	return st, nil
}

// accountsStatus is every scheduled account's entry of /status, by id,
// with its last run, live lease and pause.
func (s *Scheduler) accountsStatus(runs map[string]storage.RunRecord, leases []storage.LeaseInfo, controls []storage.AccountControl,
	now time.Time) []AccountStatus {
	live := map[string]storage.LeaseInfo{}
	for _, l := range leases {
		// Only a live lease says who syncs the account now.
		if l.ExpiresAt.After(now) {
			live[l.Account] = l
		}
	}
	paused := map[string]storage.AccountControl{}
	for _, c := range controls {
		if c.Paused {
			paused[c.Account] = c
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.jobs))
	for id := range s.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// One snapshot of the cron's entries: Entry copies them all at
	// every call, a thousand accounts' worth each time.
	next := map[cron.EntryID]time.Time{}
	for _, e := range s.cron.Entries() {
		next[e.ID] = e.Next
	}
	out := make([]AccountStatus, 0, len(ids))
	for _, id := range ids {
		as := s.accountStatus(id, s.jobs[id], runs, live, next)
		if c, ok := paused[id]; ok {
			cs := controlOf(c)
			as.Paused, as.PausedAt, as.PausedBy = true, cs.PausedAt, cs.PausedBy
		}
		out = append(out, as)
	}
	return out
}

// addScopes files each scope's health under its account (the per-account
// resources apart, the others by org) and lists the guarded ones.
func (st *Status) addScopes(hs []storage.ScopeHealth, now time.Time) {
	index := map[string]int{}
	for i, a := range st.Accounts {
		index[a.ID] = i
	}
	for _, h := range hs {
		if h.LastStatus == storage.StatusGuarded {
			st.Guarded = append(st.Guarded, GuardedScope{Account: h.Account, Org: h.Org, Resource: h.Resource, DeletesHeld: h.DeletesHeld,
				Release: ReleaseCommand(h.Account, h.Org)})
		}
		i, ok := index[h.Account]
		if !ok {
			continue // no longer configured: kept until `tursync prune`
		}
		a := &st.Accounts[i]
		sc := ScopeStatus{Resource: h.Resource, LastStatus: h.LastStatus, ErrorClass: h.ErrorClass, Error: h.Error, DeletesHeld: h.DeletesHeld}
		if !h.LastCompleteAt.IsZero() {
			at := h.LastCompleteAt
			age := math.Round(now.Sub(at).Seconds()*1000) / 1000
			sc.LastCompleteAt, sc.AgeSeconds = &at, &age
		}
		if h.Org == "" {
			a.Scopes = append(a.Scopes, sc) // the per-account resources
			continue
		}
		if len(a.Orgs) == 0 || a.Orgs[len(a.Orgs)-1].Org != h.Org {
			a.Orgs = append(a.Orgs, OrgStatus{Org: h.Org})
		}
		o := &a.Orgs[len(a.Orgs)-1]
		o.Resources = append(o.Resources, sc)
	}
}

// accountStatus is one account's entry of /status; s.mu is held.
func (s *Scheduler) accountStatus(id string, sj *scheduledJob, runs map[string]storage.RunRecord, leases map[string]storage.LeaseInfo,
	next map[cron.EntryID]time.Time) AccountStatus {
	as := AccountStatus{ID: id, Schedule: sj.job.Schedule, IntervalSeconds: sj.interval.Seconds(), Running: sj.running, Error: sj.lastErr, Up: sj.up,
		Orgs: []OrgStatus{}}
	if n := next[sj.entry]; !n.IsZero() {
		n = n.UTC()
		as.NextRun = &n
	}
	if r, ok := runs[id]; ok {
		p := &PassStatus{RunID: r.ID, Trigger: r.Trigger, Status: r.Status, StartedAt: r.StartedAt, Error: r.Error}
		if !r.FinishedAt.IsZero() {
			p.FinishedAt = &r.FinishedAt
		}
		as.LastPass = p
	}
	if l, ok := leases[id]; ok {
		as.Lease = &LeaseStatus{Owner: l.Owner, ExpiresAt: l.ExpiresAt.UTC(), Mine: l.Owner == s.owner}
	}
	if sj.running && sj.syncer != nil {
		if p, ok := sj.syncer.InFlight(id); ok {
			as.InFlight = &PassProgress{Org: p.Org, OrgIndex: p.OrgIndex, Orgs: p.Orgs, Resource: p.Resource,
				Pages: p.Pages, Rows: p.Rows, ExpectedRows: p.Expected, Since: p.Since.UTC()}
		}
	}
	return as
}

// cronLogger sends robfig/cron's logging to slog. cron.Recover reports a
// panic as Error(err, "panic", ...): onPanic counts it.
type cronLogger struct {
	log     *slog.Logger
	job     string
	onPanic func(job string)
}

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	if msg == "panic" && l.onPanic != nil {
		l.onPanic(l.job)
	}
	l.log.Error("cron: "+msg, append(kv, "error", err)...)
}

// ReleaseCommand is the command that applies the deletes the guard holds
// in an org.
func ReleaseCommand(account, org string) string {
	if org == "" {
		// The account's own scopes: no --org picks them alone.
		return fmt.Sprintf("tursync sync --config CONFIG --force-deletes --account %s", account)
	}
	return fmt.Sprintf("tursync sync --config CONFIG --force-deletes --account %s --org %s", account, org)
}
