package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tursync/tursync/daemon"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/tursync/tursync/extract"
	"github.com/tursync/tursync/metrics"
	"github.com/tursync/tursync/statuspage"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
)

// retentionSchedule is when the daemon applies the retention settings
// (besides once at start-up).
const retentionSchedule = "@every 24h"

// controlsSchedule is how often the daemon reads the accounts' controls
// (docs/control.md): pauses and the passes `tursync accounts sync` asked
// for.
const controlsSchedule = "@every 2s"

// caller names who called the control API: exporter-toolkit let the
// request through, so its basic auth user or client certificate is
// verified.
func caller(r *http.Request) string {
	if u, _, ok := r.BasicAuth(); ok {
		return "user:" + u
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return "cert:" + r.TLS.PeerCertificates[0].Subject.String()
	}
	return "anonymous"
}

// daemon is `tursync run`. It opens, runs and closes as Litestream's
// ReplicateCommand does: openDaemon builds everything (mirror, metrics,
// schedule, listener), Run serves and schedules until a signal or ctx says
// stop, Close lets the work in flight finish and releases what Open took.
// It holds the process's wiring, not a pointer back to Main.
type runner struct {
	w       wiring
	exit    func(code int) // a second SIGTERM ends the process at once
	sigs    <-chan os.Signal
	path    string
	cfg     atomic.Pointer[Config]
	log     *slog.Logger
	store   *storage.Store
	metrics *metrics.Metrics
	reg     *prometheus.Registry
	lims    *limiters
	sched   *daemon.Scheduler
	ln      net.Listener
	srv     *http.Server
	// extractor runs the extraction queries; extractKey is the settings
	// it was built with.
	extractor  atomic.Pointer[extract.Extractor]
	extractKey string
}

func (m *Main) runDaemon(ctx context.Context, args []string) error {
	fs := m.flags("run")
	cfg, cfgPath, err := m.parseWithConfig(fs, args)
	if err != nil {
		return err
	}
	// Catch signals before anything slow, so none is lost to the default
	// action while the mirror migrates.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	d, err := openDaemon(ctx, m.wiring(), cfgPath, cfg, newLogger(m.Stderr, cfg.Log.Level, cfg.Log.Format), sigs, m.Exit)
	if err != nil {
		return err
	}
	runErr := d.Run(ctx)
	d.Close(ctx)
	return runErr
}

// openDaemon opens the mirror (migrating it), registers the metrics,
// schedules every account and query, and binds http.listen. On an error
// nothing it opened stays open.
func openDaemon(ctx context.Context, w wiring, path string, cfg Config, log *slog.Logger, sigs <-chan os.Signal, exit func(int)) (*runner, error) {
	d := &runner{w: w, exit: exit, sigs: sigs, path: path, log: log, lims: newLimiters(), reg: prometheus.NewRegistry()}
	d.cfg.Store(&cfg)
	warnTokenFiles(d.log, cfg)
	var err error
	if d.store, err = w.openStore(ctx, cfg, false); err != nil {
		return nil, err
	}
	if err := d.schedule(ctx, cfg); err != nil {
		d.store.Close()
		return nil, err
	}
	if d.ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		d.store.Close()
		return nil, fmt.Errorf("listen on http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	mux := http.NewServeMux()
	page := statuspage.Handler(statuspage.Source{Status: d.sched.Status, Mirror: d.store, Now: w.now})
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /accounts/", page)
	if cfg.HTTP.Control {
		mux.Handle("/api/v1/", d.sched.ControlHandler(caller))
	}
	mux.Handle("/", metrics.Handler(d.reg, metrics.Probes{Alive: d.sched.Alive, Ready: d.ready, Status: d.sched.StatusProbe}))
	d.srv = &http.Server{
		Handler: mux,
		// Probes and scrapes are small; slow clients must not hold
		// connections open.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	return d, nil
}

// schedule registers the metrics and builds the scheduler with every
// account's passes, every extraction query and the daily retention.
func (d *runner) schedule(ctx context.Context, cfg Config) error {
	d.metrics = metrics.New(d.reg, version, runtime.Version())
	metrics.RegisterRuntime(d.reg)
	metrics.RegisterMirror(d.reg, d.store.DB())
	d.sched = daemon.NewScheduler(tsync.MirrorOf(d.store), d.store, d.syncOptions(cfg), d.metrics)
	if err := d.sched.SetJobs(d.jobs(cfg)); err != nil {
		return &ConfigError{Msg: err.Error()}
	}
	if err := d.setTasks(cfg); err != nil {
		return &ConfigError{Msg: err.Error()}
	}
	d.sched.SetWebhookProbe(d.webhookStatus)
	d.sched.SetPolicyProbe(d.policyStatus)
	if err := d.sched.Every(retentionSchedule, "retention", d.prune); err != nil {
		return err
	}
	// `tursync accounts` pauses and asks for passes through the mirror.
	if err := d.sched.Every(controlsSchedule, "account_controls", d.sched.FollowControls); err != nil {
		return err
	}
	if err := d.sched.SeedMetrics(ctx); err != nil {
		d.log.Warn("freshness metrics not seeded from the mirror", "error", err)
	}
	return nil
}

// Run serves the HTTP endpoints, starts the schedule and the first passes,
// and reloads the config on SIGHUP until a signal, ctx or a failed HTTP
// server says stop; only the last is an error.
func (d *runner) Run(ctx context.Context) error {
	cfg := d.cfg.Load()
	srvErr := make(chan error, 1)
	go func() { srvErr <- d.serve(d.ln, d.srv, cfg.HTTP) }()
	d.log.Info("tursync daemon started", "version", version, "listen", d.ln.Addr().String(), "accounts", len(cfg.Accounts),
		"mirror", storage.RedactURL(cfg.Mirror.URL))
	d.sched.Start()
	go d.prune(ctx)
	return d.waitForStop(ctx, d.sigs, srvErr)
}

// waitForStop reloads the config on every SIGHUP until a signal, ctx or a
// failed HTTP server says stop; only the last is an error.
func (d *runner) waitForStop(ctx context.Context, sigs <-chan os.Signal, srvErr <-chan error) error {
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				d.reload()
				continue
			}
			d.log.Info("shutting down", "signal", sig.String())
			return nil
		case <-ctx.Done():
			d.log.Info("shutting down", "reason", context.Cause(ctx).Error())
			return nil
		case err := <-srvErr:
			d.log.Error("http server stopped", "error", err)
			return fmt.Errorf("http server: %w", err)
		}
	}
}

// Close lets the org in flight finish (or roll back after
// sync.shutdown_timeout), stops the HTTP server and closes the mirror. A
// second SIGINT or SIGTERM meanwhile exits at once; SQLite rolls back the
// open transaction when the process dies, so no org is half-written.
func (d *runner) Close(ctx context.Context) {
	defer d.store.Close()
	sigs := d.sigs
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig != syscall.SIGHUP {
					d.log.Warn("second signal: exiting now", "signal", sig.String())
					d.exit(1)
				}
			case <-done:
				return
			}
		}
	}()
	timeout := time.Duration(d.cfg.Load().Sync.ShutdownTimeout)
	if err := d.sched.Shutdown(timeout); err != nil {
		d.log.Warn("shutdown", "error", err, "timeout", timeout.String())
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = d.srv.Shutdown(sctx)
	d.log.Info("tursync daemon stopped")
}

// msgOpenListener warns of a listener anyone on the network may reach.
const msgOpenListener = "http.listen is not a loopback address and http.web_config_file is not set: anyone who reaches the port sees " +
	"org names, usernames and emails on /status and the status page; set http.web_config_file (TLS, basic auth)"

// serve serves the daemon's endpoints on ln: through exporter-toolkit with
// TLS and basic auth when http.web_config_file is set. A listener that is
// not loopback without it is warned about: /status and the status page
// show org names, usernames and emails.
func (d *runner) serve(ln net.Listener, srv *http.Server, hc HTTPConfig) error {
	if hc.WebConfigFile == "" {
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			d.log.Warn(msgOpenListener, "listen", ln.Addr().String())
		}
	}
	path := hc.WebConfigFile
	// exporter-toolkit logs at info how it serves; the daemon's logger at
	// warn keeps that out of the way unless it goes wrong.
	wlog := d.log.With("component", "http")
	err := web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &path}, slog.New(levelAtLeast{wlog.Handler(), slog.LevelWarn}))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// levelAtLeast drops records under min.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// WithAttrs and WithGroup keep the filter on the derived handlers.
func (h levelAtLeast) WithAttrs(as []slog.Attr) slog.Handler {
	return levelAtLeast{h.Handler.WithAttrs(as), h.min}
}

func (h levelAtLeast) WithGroup(name string) slog.Handler {
	return levelAtLeast{h.Handler.WithGroup(name), h.min}
}

// syncOptions are the pass options of a config.
func (d *runner) syncOptions(cfg Config) tsync.Options {
	o := d.w.syncerOptions(cfg, d.log)
	o.Metrics = d.metrics
	// The token's expiry feeds tursync_token_expiry_timestamp_seconds; a
	// daily check is enough, and the other passes save the request.
	o.ValidateEvery = 24 * time.Hour
	o.AfterPass = func(ctx context.Context, account string, res tsync.Result) {
		evaluatePolicies(ctx, d.store, d.cfg.Load().policies(), account, res, d.metrics, o.Now, d.log)
	}
	d.metrics.PoliciesRetained(func(name string) bool {
		return slices.ContainsFunc(cfg.Policies, func(p PolicyConfig) bool { return p.Name == name })
	})
	return o
}

// jobs builds one scheduled job per account of cfg. Each pass looks the
// account up in the config current at that moment and reads its token
// again.
func (d *runner) jobs(cfg Config) []daemon.Job {
	var out []daemon.Job
	for _, a := range cfg.Accounts {
		id := a.ID
		out = append(out, daemon.Job{ID: id, Schedule: cfg.Schedule(a), Orgs: a.Orgs, Resources: cfg.Resources(a),
			Account: func() (tsync.Account, error) { return d.account(id) }})
	}
	return out
}

func (d *runner) account(id string) (tsync.Account, error) {
	cfg := d.cfg.Load()
	for _, a := range cfg.Accounts {
		if a.ID == id {
			acct, err := d.w.account(cfg, a, d.lims, d.metrics, d.log)
			if err != nil {
				return tsync.Account{}, fmt.Errorf("account %s: %w", id, err)
			}
			return acct, nil
		}
	}
	return tsync.Account{}, fmt.Errorf("account %s is no longer configured", id)
}

// reload re-reads the config on SIGHUP. A bad file keeps the running
// config; passes in flight keep the options they started with.
func (d *runner) reload() {
	cfg, err := d.w.loadConfig(d.path)
	if err != nil {
		d.refused("config reload refused; keeping the running config", err)
		return
	}
	old := d.cfg.Load()
	if cfg.Mirror != old.Mirror || cfg.HTTP != old.HTTP || cfg.Log != old.Log || cfg.Sync.MaxConcurrentAccounts != old.Sync.MaxConcurrentAccounts {
		d.log.Warn("mirror, http, log and sync.max_concurrent_accounts change only on restart; the rest of the config is reloaded")
		cfg.Mirror, cfg.HTTP, cfg.Log = old.Mirror, old.HTTP, old.Log
		cfg.Sync.MaxConcurrentAccounts = old.Sync.MaxConcurrentAccounts
	}
	d.cfg.Store(&cfg)
	warnTokenFiles(d.log, cfg)
	d.sched.SetOptions(tsync.MirrorOf(d.store), d.syncOptions(cfg))
	if err := d.sched.SetJobs(d.jobs(cfg)); err != nil {
		d.refused("config reload: schedule", err)
		return
	}
	if err := d.setTasks(cfg); err != nil {
		d.refused("config reload: extraction schedule", err)
		return
	}
	d.metrics.ConfigReloaded(true)
	d.sched.SetConfigStatus(daemon.ConfigStatus{ReloadedAt: d.w.now().UTC(), OK: true})
	added, removed, changed, sections := configChanges(*old, cfg)
	d.log.Info("config reloaded", "accounts", len(cfg.Accounts), "added", added, "removed", removed,
		"changed", changed, "sections_changed", sections)
}

// refused records a reload that did not take: logged, counted, and on
// the status page and /status until the next reload.
func (d *runner) refused(msg string, err error) {
	d.metrics.ConfigReloaded(false)
	d.log.Error(msg, "error", err)
	d.sched.SetConfigStatus(daemon.ConfigStatus{ReloadedAt: d.w.now().UTC(), Error: err.Error()})
}

// configChanges says what a reload changed: accounts added, removed or
// changed (by id), and the other top-level sections that differ.
func configChanges(old, cfg Config) (added, removed, changed, sections []string) {
	before := map[string]AccountConfig{}
	for _, a := range old.Accounts {
		before[a.ID] = a
	}
	seen := map[string]bool{}
	for _, a := range cfg.Accounts {
		seen[a.ID] = true
		b, ok := before[a.ID]
		switch {
		case !ok:
			added = append(added, a.ID)
		case !reflect.DeepEqual(accountKey(old, b), accountKey(cfg, a)):
			changed = append(changed, a.ID)
		}
	}
	for _, a := range old.Accounts {
		if !seen[a.ID] {
			removed = append(removed, a.ID)
		}
	}
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(cfg)
	for i := 0; i < ov.NumField(); i++ {
		f := ov.Type().Field(i)
		if f.Name == "Accounts" {
			continue
		}
		if !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			sections = append(sections, strings.Split(f.Tag.Get("yaml"), ",")[0])
		}
	}
	return added, removed, changed, sections
}

// accountKey is what a pass of the account depends on, its effective
// schedule and resources included.
func accountKey(cfg Config, a AccountConfig) []any {
	return []any{a.TokenEnv, a.TokenFile, a.Orgs, cfg.Schedule(a), cfg.Resources(a)}
}

// ready says whether the mirror answers, takes writes and is migrated.
func (d *runner) ready(ctx context.Context) error {
	if err := d.store.Ping(ctx); err != nil {
		return err
	}
	if err := d.store.CheckIdentity(ctx); err != nil {
		return err
	}
	if err := d.store.WriteHealth(); err != nil {
		return fmt.Errorf("mirror does not take writes: %w", err)
	}
	ms, err := d.store.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, mg := range ms {
		if !mg.Applied {
			return fmt.Errorf("mirror migration %05d is not applied", mg.Version)
		}
	}
	return nil
}

// prune applies the retention settings.
func (d *runner) prune(ctx context.Context) {
	cfg := d.cfg.Load()
	r := cfg.Retention.Storage()
	if r == (storage.Retention{}) {
		return
	}
	n, err := d.store.Prune(ctx, r, d.w.now())
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			d.log.Error("retention prune", "error", err)
		}
		return
	}
	for table, rows := range n {
		d.metrics.Pruned(table, rows)
	}
	d.log.Info("retention prune", "change_events", n["change_events"], "row_versions", n["row_versions"], "sync_runs", n["sync_runs"], "sync_scopes", n["sync_scopes"])
}
