package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/tursync/tursync/daemon"
	"github.com/tursync/tursync/internal/testmetrics"
	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/sync/synctest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tursync/tursync/metrics"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

func TestSpreadScheduleIsDeterministicAndSpread(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		spec           string
		from           time.Time
		first, last    time.Time // every account's next run after from falls in [first, last]
		minDistinctSec int
	}{
		{"@every 15m", t0, t0, t0.Add(15 * time.Minute), 500},
		// A cron spec moves by at most a minute: from 12:01 every account
		// fires between 12:10 and 12:11.
		{"*/10 * * * *", t0.Add(time.Minute), t0.Add(10 * time.Minute), t0.Add(11 * time.Minute), 55},
	}
	for _, c := range cases {
		t0 := c.from
		perSecond := map[int64]int{}
		for i := range 1000 {
			id := fmt.Sprintf("account-%d", i)
			s, _, err := daemon.SpreadSchedule(id, c.spec)
			if err != nil {
				t.Fatal(err)
			}
			next := s.Next(t0)
			again, _, _ := daemon.SpreadSchedule(id, c.spec)
			if !again.Next(t0).Equal(next) {
				t.Fatalf("%s: %s's next run moved between two builds", c.spec, id)
			}
			if next.Before(c.first) || next.After(c.last) || !next.After(t0) {
				t.Fatalf("%s: %s next %s outside [%s, %s]", c.spec, id, next, c.first, c.last)
			}
			if after := s.Next(next); after.Sub(next) < time.Minute {
				t.Fatalf("%s: %s runs again %s after %s", c.spec, id, after.Sub(next), next)
			}
			perSecond[next.Unix()]++
		}
		if len(perSecond) < c.minDistinctSec {
			t.Errorf("%s: 1000 accounts fire in only %d distinct seconds, want at least %d", c.spec, len(perSecond), c.minDistinctSec)
		}
	}
	if _, every, _ := daemon.SpreadSchedule("a", "*/10 * * * *"); every != 10*time.Minute {
		t.Errorf("interval of */10 = %s", every)
	}
}

// concurrency counts how many passes run at once.
type concurrency struct {
	mu       stdsync.Mutex
	now, max int
}

func (c *concurrency) hooks() synctest.Hooks {
	return synctest.Hooks{
		Begin: func() {
			c.mu.Lock()
			c.now++
			c.max = max(c.max, c.now)
			c.mu.Unlock()
			time.Sleep(20 * time.Millisecond) // widen the window in which an overlap would show
		},
		End: func() {
			c.mu.Lock()
			c.now--
			c.mu.Unlock()
		},
	}
}

func (e *env) finishedRuns(account string) int {
	return e.count(`SELECT count(*) FROM sync_runs WHERE account_id = ? AND finished_at IS NOT NULL`, account)
}

func TestSchedulerRecoversPanicsAndLimitsConcurrency(t *testing.T) {
	e := newEnv(t, small)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test", "go")
	cs := &concurrency{}
	o := e.opts
	o.MaxConcurrentAccounts = 2
	s := daemon.NewScheduler(synctest.Hook(tsync.MirrorOf(e.store), cs.hooks()), e.store, o, m)
	var jobs []daemon.Job
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		jobs = append(jobs, daemon.Job{ID: id, Schedule: "@every 1h", Account: func() (tsync.Account, error) {
			return tsync.Account{ID: id, API: e.client(testToken)}, nil
		}})
	}
	jobs = append(jobs, daemon.Job{ID: "boom", Schedule: "@every 1h", Account: func() (tsync.Account, error) { panic("builder exploded") }},
		daemon.Job{ID: "notoken", Schedule: "@every 1h", Account: func() (tsync.Account, error) {
			return tsync.Account{}, errors.New("token_env: environment variable X is not set or empty")
		}})
	if err := s.SetJobs(jobs); err != nil {
		t.Fatal(err)
	}
	s.Start()
	testwait.Until(t, "four passes", func() bool {
		n := 0
		for _, id := range []string{"a1", "a2", "a3", "a4"} {
			n += e.finishedRuns(id)
		}
		return n == 4
	})
	testwait.Until(t, "the panic to be counted", func() bool { return testutil.ToFloat64(jobPanics(t, reg)) == 1 })
	// The job without a token waits for a slot like the others: on a
	// slow mirror it may start after the four passes end.
	testwait.Until(t, "the job without a token to fail", func() bool { return testutil.ToFloat64(syncRuns(t, reg, "notoken", "failed")) == 1 })
	if err := s.Shutdown(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if cs.max != 2 {
		t.Errorf("at most %d passes ran at once, want max_concurrent_accounts = 2", cs.max)
	}
	st, err := s.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]daemon.AccountStatus{}
	for _, a := range st.Accounts {
		byID[a.ID] = a
	}
	if a := byID["a1"]; a.LastPass == nil || a.LastPass.Status != storage.StatusComplete || len(a.Orgs) != small.Orgs || a.Up == nil || !*a.Up {
		t.Errorf("a1 status %+v: want a complete pass over %d orgs", a, small.Orgs)
	}
	if a := byID["boom"]; a.Running {
		t.Errorf("the panicked job still shows as running")
	}
	if a := byID["notoken"]; !strings.Contains(a.Error, "X is not set") || a.Up == nil || *a.Up {
		t.Errorf("notoken status %+v: want the token error and up=false", a)
	}
	if got := testutil.ToFloat64(syncRuns(t, reg, "notoken", "failed")); got != 1 {
		t.Errorf("sync_runs_total{notoken,failed} = %v", got)
	}
	if err := s.Alive(); err == nil {
		t.Errorf("Alive after Shutdown reports no error")
	}
}

func jobPanics(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	return gaugeOf(t, reg, "tursync_job_panics_total", map[string]string{"job": "account_pass"})
}

func syncRuns(t *testing.T, reg *prometheus.Registry, account, status string) prometheus.Collector {
	return gaugeOf(t, reg, "tursync_sync_runs_total", map[string]string{"account": account, "status": status})
}

// gaugeOf returns one series of a gathered family as a constant collector
// that testutil.ToFloat64 can read (0 when the series does not exist).
func gaugeOf(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	t.Helper()
	v := testmetrics.Value(t, reg, name, labels)
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x", Help: "x"}, func() float64 { return v })
}

func TestPassMetricsFollowTheScopes(t *testing.T) {
	e := newEnv(t, small)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test", "go")
	e.sim.Inject(turso.RouteMembers, "org2", tursotest.Fault{Status: 500})
	c, err := turso.NewClient(turso.Options{BaseURL: e.url, Token: turso.NewSecret(testToken), MaxRetries: 2, Observer: m,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	o := e.opts
	o.Metrics = m
	r := tsync.New(tsync.MirrorOf(e.store), o).SyncAccount(context.Background(), tsync.Account{ID: "acme", API: c})
	if r.Status != "partial" {
		t.Fatalf("pass status %s, want partial", r.Status)
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tursync_scope_syncs_total", map[string]string{"org": "org2", "resource": "members", "status": "failed"}, 1},
		{"tursync_scope_syncs_total", map[string]string{"org": "org1", "resource": "members", "status": "complete"}, 1},
		{"tursync_sync_runs_total", map[string]string{"account": "acme", "status": "partial"}, 1},
		{"tursync_account_up", map[string]string{"account": "acme"}, 1},
		{"tursync_api_requests_total", map[string]string{"endpoint": turso.RouteMembers, "code": "500"}, 3},
		{"tursync_api_retries_total", map[string]string{"reason": "server"}, 2},
		{"tursync_rows_written_total", map[string]string{"resource": "databases", "op": "created"}, float64(e.count(`SELECT count(*) FROM databases`))},
		{"tursync_mirror_rows", map[string]string{"account": "acme", "resource": "databases"}, float64(e.count(`SELECT count(*) FROM databases WHERE deleted_at IS NULL`))},
		{"tursync_mirror_rows", map[string]string{"account": "acme", "resource": "members"}, float64(e.count(`SELECT count(*) FROM role_assignments WHERE source = 'members' AND deleted_at IS NULL`))},
	}
	for _, c := range checks {
		if got := testutil.ToFloat64(gaugeOf(t, reg, c.name, c.labels)); got != c.want || c.want == 0 {
			t.Errorf("%s%v = %v, want %v (non-zero)", c.name, c.labels, got, c.want)
		}
	}
	// Per org, every default resource but the per-account ones; one of
	// those for the account.
	perOrg, perAccount := 0, 0
	for _, r := range schema.Registry {
		switch {
		case r.OptIn:
		case r.PerAccount:
			perAccount++
		default:
			perOrg++
		}
	}
	if n, want := testutil.CollectAndCount(reg, "tursync_scope_last_success_timestamp_seconds"), 2*perOrg-1+perAccount; n != want {
		t.Errorf("%d freshness series, want one per complete scope (%d: org2 members failed)", n, want)
	}
	// No label value may carry a member's username or email, or the token.
	secret := []string{testToken}
	for _, org := range e.sim.Orgs() {
		for _, mb := range e.sim.Members(org) {
			secret = append(secret, mb.Username, mb.Email)
		}
	}
	fams, _ := reg.Gather()
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				for _, s := range secret {
					if s != "" && l.GetValue() == s {
						t.Errorf("%s label %s carries %q", f.GetName(), l.GetName(), s)
					}
				}
			}
		}
	}
}

// gate holds each org's commit until the test lets it go, so a shutdown
// can arrive while an org is being written.
type gate struct {
	entered chan string
	proceed chan struct{}
	waitCtx bool // instead of proceed, wait until the pass is cancelled
}

func (g *gate) hooks() synctest.Hooks {
	return synctest.Hooks{BeforeCommit: func(ctx context.Context, org string) {
		if org == "" {
			return // the account's own scopes, before any org
		}
		g.entered <- org
		if g.waitCtx {
			<-ctx.Done()
		} else {
			<-g.proceed
		}
	}}
}

func TestShutdownFinishesTheOrgInFlightAndStartsNoOther(t *testing.T) {
	e := newEnv(t, small)
	g := &gate{entered: make(chan string, 1), proceed: make(chan struct{})}
	s := e.startScheduler(synctest.Hook(tsync.MirrorOf(e.store), g.hooks()), "acme")
	org := <-g.entered
	done := make(chan error)
	go func() { done <- s.Shutdown(10 * time.Second) }()
	testwait.Until(t, "the scheduler to stop", func() bool { return s.Alive() != nil })
	close(g.proceed)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := e.count(`SELECT count(*) FROM organizations WHERE deleted_at IS NULL`); got != 1 {
		t.Errorf("%d orgs written, want only the one in flight (%s)", got, org)
	}
	if got := e.count(`SELECT count(*) FROM databases WHERE organization_id = ?`, org); got != small.Databases {
		t.Errorf("org in flight has %d databases, want all %d", got, small.Databases)
	}
	if got := e.str(`SELECT status || ': ' || error FROM sync_runs`); !strings.HasPrefix(got, "interrupted: ") || !strings.Contains(got, "stopped by shutdown") {
		t.Errorf("run recorded as %q", got)
	}
}

func TestShutdownTimeoutRollsBackTheOrgInFlight(t *testing.T) {
	e := newEnv(t, small)
	g := &gate{entered: make(chan string, 1), waitCtx: true}
	s := e.startScheduler(synctest.Hook(tsync.MirrorOf(e.store), g.hooks()), "acme")
	<-g.entered
	if err := s.Shutdown(50 * time.Millisecond); !errors.Is(err, daemon.ErrShutdownTimeout) {
		t.Fatalf("Shutdown = %v, want ErrShutdownTimeout", err)
	}
	for _, table := range []string{"organizations", "databases", "role_assignments", "invites"} {
		if got := e.count(`SELECT count(*) FROM ` + table); got != 0 {
			t.Errorf("%s has %d rows after the cancelled org, want 0", table, got)
		}
	}
	if got := e.str(`SELECT status || ': ' || error FROM sync_runs WHERE finished_at IS NOT NULL`); !strings.HasPrefix(got, "interrupted: interrupted by the shutdown timeout") {
		t.Errorf("the cancelled pass was recorded as %q, want interrupted by the shutdown timeout", got)
	}
	if got := e.count(`SELECT count(*) FROM sync_scopes WHERE error_class = 'network'`); got != 0 {
		t.Errorf("%d scopes of the cancelled pass blamed on the network", got)
	}
}

// job is an hourly pass of account id against the simulator.
func (e *env) job(id string) daemon.Job {
	return daemon.Job{ID: id, Schedule: "@every 1h", Account: func() (tsync.Account, error) {
		return tsync.Account{ID: id, API: e.client(testToken)}, nil
	}}
}

// startScheduler starts a scheduler over store with hourly jobs for ids;
// each gets its first pass at once.
func (e *env) startScheduler(store tsync.Mirror, ids ...string) *daemon.Scheduler {
	e.t.Helper()
	s := daemon.NewScheduler(store, e.store, e.opts, nil)
	var jobs []daemon.Job
	for _, id := range ids {
		jobs = append(jobs, e.job(id))
	}
	if err := s.SetJobs(jobs); err != nil {
		e.t.Fatal(err)
	}
	s.Start()
	return s
}

func TestSetJobsAddsAndRemovesAccounts(t *testing.T) {
	e := newEnv(t, small)
	s := e.startScheduler(tsync.MirrorOf(e.store), "a1")
	job := e.job
	defer s.Shutdown(5 * time.Second)
	testwait.Until(t, "a1's first pass", func() bool { return e.finishedRuns("a1") == 1 })
	if err := s.SetJobs([]daemon.Job{job("a2")}); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "a2's first pass, started by the reload", func() bool { return e.finishedRuns("a2") == 1 })
	st, err := s.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Accounts) != 1 || st.Accounts[0].ID != "a2" || st.Accounts[0].NextRun == nil {
		t.Errorf("status accounts %+v, want only a2 with a next run", st.Accounts)
	}
	bad := job("a3")
	bad.Schedule = "every day"
	if err := s.SetJobs([]daemon.Job{bad}); err == nil || !strings.Contains(err.Error(), "a3") {
		t.Errorf("bad schedule: %v, want an error naming the account", err)
	}
}

// TestStatusShowsWhoHoldsEachAccount: /status names the live lease of each
// account and whether this daemon holds it; an expired one is not shown.
func TestStatusShowsWhoHoldsEachAccount(t *testing.T) {
	e := newEnv(t, small)
	e.opts.Owner = "this-daemon"
	s := e.startScheduler(tsync.MirrorOf(e.store), "a1", "a2")
	defer s.Shutdown(5 * time.Second)
	testwait.Until(t, "both first passes", func() bool { return e.finishedRuns("a1") == 1 && e.finishedRuns("a2") == 1 })
	ctx := context.Background()
	if _, err := e.store.AcquireLease(ctx, "a1", "this-daemon", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.AcquireLease(ctx, "a2", "other-daemon", time.Minute); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range st.Accounts {
		if a.Lease != nil {
			got[a.ID] = fmt.Sprintf("%s %v", a.Lease.Owner, a.Lease.Mine)
		}
	}
	if got["a1"] != "this-daemon true" || got["a2"] != "other-daemon false" {
		t.Errorf("leases in /status: %v", got)
	}
	e.clk.Advance(2 * time.Minute)
	if st, err = s.Status(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range st.Accounts {
		if a.Lease != nil {
			t.Errorf("%s shows an expired lease: %+v", a.ID, a.Lease)
		}
	}
}

// TestScopeSeriesFollowTheConfig: series are seeded from the mirror only for
// scopes someone syncs, and a reload that drops a resource drops its series,
// so no stale alert fires for what nobody syncs any more.
func TestScopeSeriesFollowTheConfig(t *testing.T) {
	e := newEnv(t, small)
	e.pass() // every scope of every org is in the mirror
	count := func(reg *prometheus.Registry, resource string) int {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mf := range mfs {
			if mf.GetName() != "tursync_scope_last_success_timestamp_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "resource" && (resource == "" || l.GetValue() == resource) {
						n++
					}
				}
			}
		}
		return n
	}
	reg := prometheus.NewRegistry()
	s := daemon.NewScheduler(tsync.MirrorOf(e.store), e.store, e.opts, metrics.New(reg, "test", "go"))
	j := e.job("acme")
	j.Resources = []string{schema.ResMembers, schema.ResDatabases}
	if err := s.SetJobs([]daemon.Job{j}); err != nil {
		t.Fatal(err)
	}
	if err := s.SeedMetrics(context.Background()); err != nil {
		t.Fatal(err)
	}
	orgs := len(e.sim.Orgs())
	if got := count(reg, ""); got != 2*orgs {
		t.Errorf("seeded %d freshness series, want %d (2 configured resources x %d orgs)", got, 2*orgs, orgs)
	}
	j.Resources = []string{schema.ResMembers}
	if err := s.SetJobs([]daemon.Job{j}); err != nil {
		t.Fatal(err)
	}
	if got, members := count(reg, ""), count(reg, schema.ResMembers); got != orgs || members != orgs {
		t.Errorf("after the reload %d series (%d of members), want only members' %d", got, members, orgs)
	}
}
