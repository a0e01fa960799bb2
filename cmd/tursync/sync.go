package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	stdsync "sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
)

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp // the flag package printed the command's flags
		}
		return &UsageError{Msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return &UsageError{Msg: fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// parseWithConfig adds --config to a command's flags, parses args and
// loads the config; it returns the config and its path.
func (m *Main) parseWithConfig(fs *flag.FlagSet, args []string) (Config, string, error) {
	path := fs.String("config", "", requiredMark+"config file (YAML)")
	if err := parseFlags(fs, args); err != nil {
		return Config{}, "", err
	}
	cfg, err := m.wiring().loadConfig(*path)
	return cfg, *path, err
}

func (w wiring) loadConfig(path string) (Config, error) { return w.loadConfigTokens(path, true) }

func (w wiring) loadConfigTokens(path string, checkTokens bool) (Config, error) {
	if path == "" {
		return Config{}, &UsageError{Msg: "--config is required"}
	}
	f, err := os.Open(path)
	if err != nil {
		return Config{}, &ConfigError{Msg: scrubPathErr(err).Error()}
	}
	defer f.Close()
	cfg, err := parseConfig(f, true, w.getenv, checkTokens)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.Msg = path + ": " + ce.Msg
		}
		return Config{}, err
	}
	return cfg, nil
}

func (w wiring) openStore(ctx context.Context, cfg Config, noMigrate bool) (*storage.Store, error) {
	var tok string
	if cfg.Mirror.AuthTokenEnv != "" {
		tok = w.getenv(cfg.Mirror.AuthTokenEnv)
	}
	return storage.Open(ctx, cfg.Mirror.URL, storage.Options{AuthToken: tok, Now: w.now, NoMigrate: noMigrate, FileMode: cfg.Mirror.fileMode(),
		BusyTimeout: time.Duration(cfg.Mirror.BusyTimeout), AuthTokenName: fmt.Sprintf("mirror.auth_token_env (variable %s)", cfg.Mirror.AuthTokenEnv)})
}

// limiters keeps one token bucket per token, shared by every account that
// uses the same token, across passes and reloads. The daemon's jobs build
// their clients concurrently.
type limiters struct {
	mu stdsync.Mutex
	m  map[string]*rate.Limiter
}

func newLimiters() *limiters { return &limiters{m: map[string]*rate.Limiter{}} }

func (l *limiters) get(tok turso.Secret, rps float64) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[tok.Reveal()]
	if !ok {
		// A burst of 1 keeps every one-second window at or under the
		// rate, as the API's limits count it.
		lim = rate.NewLimiter(rate.Limit(rps), 1)
		l.m[tok.Reveal()] = lim
	} else if lim.Limit() != rate.Limit(rps) {
		lim.SetLimit(rate.Limit(rps)) // requests_per_second changed in a reload
	}
	return lim
}

// account reads an account's token now and builds its API client.
func (w wiring) account(cfg *Config, a AccountConfig, lims *limiters, obs turso.Observer, log *slog.Logger) (tsync.Account, error) {
	c, err := w.client(cfg, a, lims, obs, log)
	if err != nil {
		return tsync.Account{}, err
	}
	return tsync.Account{ID: a.ID, Orgs: a.Orgs, Resources: cfg.Resources(a), API: c}, nil
}

// client reads an account's token now and builds its Platform API client.
func (w wiring) client(cfg *Config, a AccountConfig, lims *limiters, obs turso.Observer, log *slog.Logger) (*turso.Client, error) {
	tok, err := a.Token(w.getenv)
	if err != nil {
		return nil, err
	}
	return turso.NewClient(turso.Options{BaseURL: cfg.API.BaseURL, Token: tok, Timeout: time.Duration(cfg.API.Timeout),
		MaxRetries: cfg.API.MaxRetries, MaxFieldBytes: cfg.API.MaxFieldBytes, BaseURLSource: "api.base_url", Limiter: lims.get(tok, cfg.API.RequestsPerSecond), Observer: obs,
		TokenSource: a.tokenSource(), Logger: log.With(tsync.KeyAccount, a.ID)})
}

// accounts builds the sync accounts of the config, reading each token now.
func (w wiring) accounts(cfg Config, only string, log *slog.Logger) ([]tsync.Account, error) {
	lims := newLimiters()
	var out []tsync.Account
	for i, a := range cfg.Accounts {
		if only != "" && a.ID != only {
			continue
		}
		acct, err := w.account(&cfg, a, lims, nil, log)
		if err != nil {
			return nil, configErr(fmt.Sprintf("accounts[%d]", i), a.line, "%v", err)
		}
		out = append(out, acct)
	}
	if only != "" && len(out) == 0 {
		return nil, &UsageError{Msg: fmt.Sprintf("--account %q is not in the config", only)}
	}
	return out, nil
}

func (w wiring) syncerOptions(cfg Config, log *slog.Logger) tsync.Options {
	spills := storage.SpillDir("")
	// A pass killed mid-org leaves its spill file (API data in clear);
	// nothing else would ever remove it.
	if n, size, err := storage.CollectSpills(spills); err != nil {
		log.Warn("collect spill files left by processes that ended", "dir", spills, "error", err)
	} else if n > 0 {
		log.Info("removed spill files left by processes that ended", "dir", spills, "files", n, "bytes", size)
	}
	return tsync.Options{
		SpillDir:              spills,
		Guard:                 storage.Guard{MaxFraction: cfg.DeleteGuard.MaxFraction, MinRows: cfg.DeleteGuard.MinRows},
		Backfill:              time.Duration(cfg.AuditLogs.Backfill),
		DetailsBudget:         cfg.ResourceSettings.DatabaseDetails.MaxCallsPerPass,
		MaxConcurrentAccounts: cfg.Sync.MaxConcurrentAccounts,
		LeaseTTL:              time.Duration(cfg.Sync.LeaseTTL),
		Owner:                 w.owner,
		Now:                   w.now,
		Logger:                log,
	}
}

func (m *Main) runSync(ctx context.Context, args []string) error {
	fs := m.flags("sync")
	account := fs.String("account", "", "sync only this account id")
	org := fs.String("org", "", "sync only this organization slug")
	dry := fs.Bool("dry-run", false, "fetch and diff, write nothing, print the planned changes")
	force := fs.Bool("force-deletes", false, "apply deletes the delete guard would hold back")
	leaseWait := fs.Duration("lease-wait", 0, "when another process (the daemon) is syncing an account, wait this long for it to finish; 0 exits 1 at once naming it")
	output := outputFlag(fs)
	cfg, _, err := m.parseWithConfig(fs, args)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	// On a terminal, live progress bars; on a pipe, progress lines in the
	// log.
	var ui *progressUI
	log := newLogger(m.Stderr, cfg.Log.Level, cfg.Log.Format)
	if isTerminal(m.Stderr) {
		ui = newProgressUI(m.Stderr, m.Now)
		format := cfg.Log.Format
		if format == "auto" {
			format = "text"
		}
		log = newLogger(ui, cfg.Log.Level, format)
		defer ui.stop()
	}
	warnTokenFiles(log, cfg)
	accts, err := m.wiring().accounts(cfg, *account, log)
	if err != nil {
		return err
	}
	st, err := m.wiring().openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	o := m.wiring().syncerOptions(cfg, log)
	o.ForceDeletes, o.OnlyOrg, o.LeaseWait = *force, *org, *leaseWait
	// A misspelt org is a usage error, found before any request for it.
	o.StrictOrgs = true
	if ui != nil {
		o.OnProgress = ui.event
	} else {
		o.ProgressLogs = true
	}
	if *dry {
		o.DryRun, o.Trigger = true, "dry-run"
	}
	policies := cfg.policies()
	o.AfterPass = func(ctx context.Context, account string, res tsync.Result) {
		evaluatePolicies(ctx, st, policies, account, res, nil, o.Now, log)
	}
	results := tsync.New(tsync.MirrorOf(st), o).Run(ctx, accts)
	if ui != nil {
		ui.stop() // the bars end before the summary prints
	}
	if *output == "json" {
		if err := writeJSON(m.Stdout, newSyncReport(results, *dry)); err != nil {
			return err
		}
	} else {
		printResults(m.Stdout, results, *dry)
	}
	for _, r := range results {
		var unknown *tsync.UnknownOrgError
		if errors.As(r.Err, &unknown) {
			return &UsageError{Msg: r.Err.Error()}
		}
	}
	for _, r := range results {
		if r.Failed() {
			return ErrSyncFailed
		}
	}
	return nil
}

func (m *Main) runMigrate(ctx context.Context, args []string) error {
	fs := m.flags("migrate")
	status := fs.Bool("status", false, "list migrations and whether each is applied")
	path := fs.String("config", "", requiredMark+"config file (YAML)")
	output := outputFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	// Migrating reads no account token.
	cfg, err := m.wiring().loadConfigTokens(*path, false)
	if err != nil {
		return err
	}
	st, err := m.wiring().openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if *status {
		ms, err := st.MigrationStatus(ctx)
		if err != nil {
			return err
		}
		if *output == "json" {
			return writeJSON(m.Stdout, map[string]any{"migrations": migrationReports(ms)})
		}
		for _, mg := range ms {
			state := "pending"
			if mg.Applied {
				state = "applied"
			}
			fmt.Fprintf(m.Stdout, "%05d %-8s %s\n", mg.Version, state, mg.Source)
		}
		return nil
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if *output == "json" {
		return writeJSON(m.Stdout, map[string]any{"applied": migrationReports(applied)})
	}
	if len(applied) == 0 {
		fmt.Fprintln(m.Stdout, "mirror schema is up to date")
	}
	for _, mg := range applied {
		fmt.Fprintf(m.Stdout, "applied %05d %s\n", mg.Version, mg.Source)
	}
	return nil
}

// migrationReport is one migration under --output json.
type migrationReport struct {
	Version int64  `json:"version"`
	Source  string `json:"source"`
	Applied bool   `json:"applied"`
}

func migrationReports(ms []storage.Migration) []migrationReport {
	out := []migrationReport{}
	for _, mg := range ms {
		out = append(out, migrationReport{Version: mg.Version, Source: mg.Source, Applied: mg.Applied})
	}
	return out
}
