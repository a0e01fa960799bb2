// Package metrics owns tursync's Prometheus collectors, registered on a
// Registerer that cmd builds (never the global one), and the daemon's HTTP
// handlers: /metrics, /healthz, /readyz and /status.
package metrics

import (
	"database/sql"
	"strconv"
	stdsync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const namespace = "tursync"

// Metrics are the collectors the README lists. A nil *Metrics is valid and
// records nothing, so one-shot commands and tests need not build one.
//
// Labels carry account ids (from the config), org slugs and route templates
// (from the API), never emails, usernames or tokens.
type Metrics struct {
	syncRuns         *prometheus.CounterVec
	scopeSyncs       *prometheus.CounterVec
	scopeLastSuccess *prometheus.GaugeVec
	scopeDuration    *prometheus.HistogramVec
	rowsWritten      *prometheus.CounterVec
	mirrorRows       *prometheus.GaugeVec
	apiRequests      *prometheus.CounterVec
	apiDuration      *prometheus.HistogramVec
	apiRetries       *prometheus.CounterVec
	apiRateLimited   prometheus.Counter
	guardTrips       *prometheus.CounterVec
	accountUp        *prometheus.GaugeVec
	tokenExpiry      *prometheus.GaugeVec
	scheduleInterval *prometheus.GaugeVec
	accountPaused    *prometheus.GaugeVec
	jobPanics        *prometheus.CounterVec
	configReloads    *prometheus.CounterVec
	pruned           *prometheus.CounterVec
	leaseHeld        *prometheus.GaugeVec
	leaseSkips       *prometheus.CounterVec
	leaseTakeovers   *prometheus.CounterVec
	rowsRepeated     *prometheus.CounterVec
	scopeUp          *prometheus.GaugeVec
	scopeLastAttempt *prometheus.GaugeVec
	scopeFailures    *prometheus.GaugeVec
	reloadOK         prometheus.Gauge
	extract          extractMetrics

	// scopes are the (account, org, resource) label sets of the scope
	// series, so those of scopes nobody syncs any more can be deleted.
	mu     stdsync.Mutex
	scopes map[[3]string]bool
	// extractQueries are the queries with extraction series.
	extractQueries map[string]bool
	webhook        webhookMetrics
	policy         policyMetrics
	export         exportMetrics
	// webhookEndpoints are the endpoints with delivery series.
	webhookEndpoints map[string]bool
}

// New registers every collector on reg, plus build_info with
// version and the Go version.
func New(reg prometheus.Registerer, version, goVersion string) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		syncRuns: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "sync_runs_total",
			Help: "Account passes by final status (complete, partial, failed, interrupted)."}, []string{"account", "status"}),
		scopeSyncs: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "scope_syncs_total",
			Help: "Scope syncs by status (complete, failed, unavailable, guarded, interrupted)."}, []string{"account", "org", "resource", "status"}),
		scopeLastSuccess: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "scope_last_success_timestamp_seconds",
			Help: "Unix time a scope last completed (guarded counts as complete). Absent while a scope is unavailable by plan or role."},
			[]string{"account", "org", "resource"}),
		scopeDuration: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "scope_duration_seconds",
			Help:    "Time to fetch one scope of one org.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}}, []string{"resource"}),
		rowsWritten: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "rows_written_total",
			Help: "Mirror rows written by resource and op (created, updated, deleted); a resource's other feeds as resource/table, the users scopes write as users, as tursync_mirror_rows counts them."}, []string{"resource", "op"}),
		mirrorRows: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "mirror_rows",
			Help: "Live (not tombstoned) rows in the mirror per account and resource, read after each pass."}, []string{"account", "resource"}),
		apiRequests: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "api_requests_total",
			Help: "Platform API requests by route template and HTTP status (0: no answer)."}, []string{"endpoint", "code"}),
		apiDuration: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "api_request_duration_seconds",
			Help:    "Platform API request latency by route template.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}}, []string{"endpoint"}),
		apiRetries: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "api_retries_total",
			Help: "Platform API retries by reason (rate_limited, server, network)."}, []string{"reason"}),
		apiRateLimited: f.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "api_rate_limited_seconds_total",
			Help: "Seconds spent waiting on rate limits: the token bucket and Retry-After."}),
		guardTrips: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "delete_guard_trips_total",
			Help: "Scopes whose deletes the delete guard held back."}, []string{"account", "org", "resource"}),
		accountUp: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "account_up",
			Help: "1 when the account's last pass reached its orgs, 0 when it failed as a whole (revoked token, org list, mirror)."},
			[]string{"account"}),
		tokenExpiry: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "token_expiry_timestamp_seconds",
			Help: "Unix time the account's Platform API token expires, from /v1/auth/validate; absent for tokens that never expire."},
			[]string{"account"}),
		scheduleInterval: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "account_schedule_interval_seconds",
			Help: "Seconds between two scheduled passes of the account, for staleness alerts."}, []string{"account"}),
		accountPaused: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "account_paused",
			Help: "1 while an operator paused the account (docs/control.md): its scheduled passes skip, and its scopes do not alert stale."}, []string{"account"}),
		jobPanics: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "job_panics_total",
			Help: "Scheduled jobs that panicked; the scheduler recovered and kept running."}, []string{"job"}),
		configReloads: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "config_reloads_total",
			Help: "Config reloads on SIGHUP by result (ok, error)."}, []string{"result"}),
		pruned: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "retention_pruned_rows_total",
			Help: "Rows removed by the retention settings, by table."}, []string{"table"}),
		leaseHeld: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "lease_held",
			Help: "1 while this process holds the account's lease (a pass of it runs here), else 0."}, []string{"account"}),
		leaseSkips: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "lease_skips_total",
			Help: "Passes skipped because another process held the account's lease."}, []string{"account"}),
		rowsRepeated: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "repeated_rows_total",
			Help: "Rows an API answer repeated under a key it had already given (a member listed twice); the first was kept."}, []string{"resource"}),
		leaseTakeovers: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "lease_takeovers_total",
			Help: "Leases taken over before they expired because their holder was a process of this host that no longer runs."}, []string{"account"}),
		scopeUp: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "scope_up",
			Help: "1 when the scope's last pass completed (or was guarded), 0 when it failed, whether or not it ever succeeded. Absent while unavailable by plan or role."},
			[]string{"account", "org", "resource"}),
		scopeLastAttempt: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "scope_last_attempt_timestamp_seconds",
			Help: "Unix time the scope's last pass ended, whatever its status. Absent while unavailable by plan or role."},
			[]string{"account", "org", "resource"}),
		scopeFailures: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "scope_consecutive_failures",
			Help: "Passes in a row that failed the scope (0 after a complete one); 1 at start-up when the mirror's last pass of it failed."},
			[]string{"account", "org", "resource"}),
		reloadOK: f.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "config_last_reload_successful",
			Help: "0 when the last SIGHUP reload was refused (the daemon runs the previous config), else 1."}),
		scopes: map[[3]string]bool{}, extractQueries: map[string]bool{}, webhookEndpoints: map[string]bool{},
	}
	m.reloadOK.Set(1)
	m.extract = newExtractMetrics(reg)
	m.webhook = newWebhookMetrics(reg)
	m.policy = newPolicyMetrics(reg)
	m.export = newExportMetrics(reg)
	buildInfo := f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels say which build runs."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, goVersion).Set(1)
	return m
}

// RegisterRuntime adds the Go runtime and process collectors.
func RegisterRuntime(reg prometheus.Registerer) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// RegisterMirror adds the mirror's database/sql pool statistics
// (go_sql_*{db_name="mirror"}).
func RegisterMirror(reg prometheus.Registerer, db *sql.DB) {
	reg.MustRegister(collectors.NewDBStatsCollector(db, "mirror"))
}

// Request implements turso.Observer: one API request answered with code (0
// when no answer came) after d.
func (m *Metrics) Request(endpoint string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.apiRequests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	m.apiDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// Retry implements turso.Observer.
func (m *Metrics) Retry(reason string) {
	if m == nil {
		return
	}
	m.apiRetries.WithLabelValues(reason).Inc()
}

// RateLimited implements turso.Observer.
func (m *Metrics) RateLimited(d time.Duration) {
	if m == nil {
		return
	}
	m.apiRateLimited.Add(d.Seconds())
}

// Scope is what the metrics need of one finished scope.
type Scope struct {
	Account, Org, Resource, Status string
	Duration                       time.Duration
	Finished                       time.Time
	Created, Updated, Deleted      int
}

// Scope statuses, as the mirror records them (storage.StatusComplete and
// its kin). metrics imports no package of the mirror, so it names the three
// it compares; TestScopeStatusesMatchTheMirror keeps them equal.
const (
	statusComplete    = "complete"
	statusGuarded     = "guarded"
	statusUnavailable = "unavailable"
)

// ScopeDone records one scope of a pass.
func (m *Metrics) ScopeDone(s Scope) {
	if m == nil {
		return
	}
	m.scopeSyncs.WithLabelValues(s.Account, s.Org, s.Resource, s.Status).Inc()
	m.scopeDuration.WithLabelValues(s.Resource).Observe(s.Duration.Seconds())
	lv := []string{s.Account, s.Org, s.Resource}
	switch s.Status {
	case statusUnavailable:
		// Rule 3: no failure alarm for what the plan or role forbids, so
		// the scope leaves every series that alerts watch.
		m.deleteScope(lv)
	case statusComplete, statusGuarded:
		m.track(lv)
		m.scopeLastSuccess.WithLabelValues(lv...).Set(unix(s.Finished))
		m.scopeUp.WithLabelValues(lv...).Set(1)
		m.scopeFailures.WithLabelValues(lv...).Set(0)
		m.scopeLastAttempt.WithLabelValues(lv...).Set(unix(s.Finished))
	default:
		m.track(lv)
		m.scopeUp.WithLabelValues(lv...).Set(0)
		m.scopeFailures.WithLabelValues(lv...).Inc()
		m.scopeLastAttempt.WithLabelValues(lv...).Set(unix(s.Finished))
	}
	if s.Status == statusGuarded {
		m.guardTrips.WithLabelValues(s.Account, s.Org, s.Resource).Inc()
	}
	m.RowsWritten(s.Resource, s.Created, s.Updated, s.Deleted)
}

// RowsWritten counts rows a pass wrote under a label: a scope's resource
// (ScopeDone counts those), the users the members and invites scopes write
// ("users"), an invite's role assignment ("invites/role_assignments").
func (m *Metrics) RowsWritten(label string, created, updated, deleted int) {
	if m == nil {
		return
	}
	for op, n := range map[string]int{"created": created, "updated": updated, "deleted": deleted} {
		if n > 0 {
			m.rowsWritten.WithLabelValues(label, op).Add(float64(n))
		}
	}
}

func unix(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (m *Metrics) track(lv []string) {
	m.mu.Lock()
	m.scopes[[3]string{lv[0], lv[1], lv[2]}] = true
	m.mu.Unlock()
}

// deleteScope drops every per-scope series of one scope.
func (m *Metrics) deleteScope(lv []string) {
	for _, v := range []*prometheus.GaugeVec{m.scopeLastSuccess, m.scopeUp, m.scopeLastAttempt, m.scopeFailures} {
		v.DeleteLabelValues(lv...)
	}

	m.mu.Lock()
	delete(m.scopes, [3]string{lv[0], lv[1], lv[2]})
	m.mu.Unlock()
}

// ScopeSeed is a scope's state read from the mirror at start-up.
type ScopeSeed struct {
	Account, Org, Resource string
	LastStatus             string
	LastSuccess            time.Time // zero: it never succeeded
	LastAttempt            time.Time
}

// Seed sets a scope's series from the mirror at start-up, so a restart
// does not make every scope look new, fresh or missing.
func (m *Metrics) Seed(s ScopeSeed) {
	if m == nil || s.LastStatus == statusUnavailable {
		return
	}
	lv := []string{s.Account, s.Org, s.Resource}
	m.track(lv)
	if !s.LastSuccess.IsZero() {
		m.scopeLastSuccess.WithLabelValues(lv...).Set(unix(s.LastSuccess))
	}
	if !s.LastAttempt.IsZero() {
		m.scopeLastAttempt.WithLabelValues(lv...).Set(unix(s.LastAttempt))
	}
	up, fails := 1.0, 0.0
	if s.LastStatus != statusComplete && s.LastStatus != statusGuarded {
		up, fails = 0, 1
	}
	m.scopeUp.WithLabelValues(lv...).Set(up)
	m.scopeFailures.WithLabelValues(lv...).Set(fails)
}

// RetainScopes deletes the scope series of account for which keep is
// false: resources or orgs taken out of the config.
func (m *Metrics) RetainScopes(account string, keep func(org, resource string) bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	var drop [][]string
	for k := range m.scopes {
		if k[0] == account && !keep(k[1], k[2]) {
			drop = append(drop, []string{k[0], k[1], k[2]})
		}
	}
	m.mu.Unlock()
	for _, lv := range drop {
		m.deleteScope(lv)
		// Gone from the config: its counters go too.
		m.guardTrips.DeleteLabelValues(lv...)
		m.scopeSyncs.DeletePartialMatch(prometheus.Labels{"account": lv[0], "org": lv[1], "resource": lv[2]})
	}
}

// OrgRemoved drops the series of an org that was offboarded.
func (m *Metrics) OrgRemoved(account, org string) {
	m.RetainScopes(account, func(o, _ string) bool { return o != org })
}

// Pass is what the metrics need of one finished account pass.
type Pass struct {
	Account, Status string
	Up              bool
	TokenExpiry     int64 // Unix seconds; 0 when unknown or never
}

// PassDone records one account pass.
func (m *Metrics) PassDone(p Pass) {
	if m == nil {
		return
	}
	m.syncRuns.WithLabelValues(p.Account, p.Status).Inc()
	up := 0.0
	if p.Up {
		up = 1
	}
	m.accountUp.WithLabelValues(p.Account).Set(up)
	if p.TokenExpiry > 0 {
		m.tokenExpiry.WithLabelValues(p.Account).Set(float64(p.TokenExpiry))
	}
}

// MirrorRows sets the live row count of one account's resource.
func (m *Metrics) MirrorRows(account, resource string, n int64) {
	if m == nil {
		return
	}
	m.mirrorRows.WithLabelValues(account, resource).Set(float64(n))
}

// Scheduled records the interval between the account's passes.
func (m *Metrics) Scheduled(account string, every time.Duration) {
	if m == nil {
		return
	}
	m.scheduleInterval.WithLabelValues(account).Set(every.Seconds())
}

// Paused sets whether the account is paused.
func (m *Metrics) Paused(account string, paused bool) {
	if m == nil {
		return
	}
	v := 0.0
	if paused {
		v = 1
	}
	m.accountPaused.WithLabelValues(account).Set(v)
}

// AccountRemoved drops every series of an account taken out of the
// config, counters included: a removed account must not linger in
// dashboards or alerts.
func (m *Metrics) AccountRemoved(account string) {
	if m == nil {
		return
	}
	m.RetainScopes(account, func(string, string) bool { return false })
	l := prometheus.Labels{"account": account}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{m.accountUp,
		m.tokenExpiry, m.scheduleInterval, m.accountPaused, m.mirrorRows, m.leaseHeld, m.syncRuns, m.scopeSyncs, m.guardTrips,
		m.leaseSkips, m.leaseTakeovers, m.scopeLastSuccess, m.scopeUp, m.scopeLastAttempt, m.scopeFailures} {
		v.DeletePartialMatch(l)
	}
}

// JobPanicked counts a scheduled job that panicked.
func (m *Metrics) JobPanicked(job string) {
	if m == nil {
		return
	}
	m.jobPanics.WithLabelValues(job).Inc()
}

// ConfigReloaded counts a SIGHUP reload.
func (m *Metrics) ConfigReloaded(ok bool) {
	if m == nil {
		return
	}
	r := "ok"
	if !ok {
		r = "error"
	}
	m.configReloads.WithLabelValues(r).Inc()
	if ok {
		m.reloadOK.Set(1)
	} else {
		m.reloadOK.Set(0)
	}
}

// Pruned counts rows removed by retention.
func (m *Metrics) Pruned(table string, n int64) {
	if m == nil || n == 0 {
		return
	}
	m.pruned.WithLabelValues(table).Add(float64(n))
}

// LeaseHeld records whether this process holds the account's lease.
func (m *Metrics) LeaseHeld(account string, held bool) {
	if m == nil {
		return
	}
	v := 0.0
	if held {
		v = 1
	}
	m.leaseHeld.WithLabelValues(account).Set(v)
}

// LeaseSkipped counts a pass skipped because another process held the lease.
func (m *Metrics) LeaseSkipped(account string) {
	if m == nil {
		return
	}
	m.leaseSkips.WithLabelValues(account).Inc()
}

// RowsRepeated counts rows an answer repeated under a key it already gave.
func (m *Metrics) RowsRepeated(resource string, n int) {
	if m == nil {
		return
	}
	m.rowsRepeated.WithLabelValues(resource).Add(float64(n))
}

// LeaseTakenOver counts a lease taken from a holder whose process is gone.
func (m *Metrics) LeaseTakenOver(account string) {
	if m == nil {
		return
	}
	m.leaseTakeovers.WithLabelValues(account).Inc()
}
