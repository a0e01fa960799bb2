package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tursync/tursync/extract"
	"github.com/tursync/tursync/lease"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
)

func (m *Main) runExtract(ctx context.Context, args []string) error {
	fs := m.flags("extract")
	account := fs.String("account", "", "read only this account's databases")
	only := fs.String("query", "", "run only this query")
	dry := fs.Bool("dry-run", false, "list the databases each query would read; mint no token, query and write nothing")
	output := outputFlag(fs)
	cfg, _, err := m.parseWithConfig(fs, args)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	asJSON := *output == "json"
	queries, err := selectQueries(cfg, *only, *account)
	if err != nil {
		return err
	}
	log := newLogger(m.Stderr, cfg.Log.Level, cfg.Log.Format)
	st, err := m.wiring().openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	ex := extract.New(st.Extracts(), m.wiring().extractOptions(cfg, log, nil))
	if *dry {
		plans := []extractPlanReport{}
		for _, q := range queries {
			plan, err := ex.Plan(ctx, q)
			if err != nil {
				return err
			}
			if asJSON {
				plans = append(plans, newPlanReport(q, plan))
			} else {
				printPlan(m.Stdout, q, plan)
			}
		}
		if asJSON {
			return writeJSON(m.Stdout, map[string]any{"dry_run": true, "queries": plans})
		}
		return nil
	}
	minters := m.wiring().minters(&cfg, newLimiters(), nil, log)
	leases := lease.New(st, lease.Options{Owner: m.owner(), TTL: time.Duration(cfg.Sync.LeaseTTL), Logger: log})
	failed := false
	sums := []extractSummaryReport{}
	for _, q := range queries {
		sum, err := runLeased(ctx, leases, ex, q, minters)
		if err != nil {
			if asJSON && len(sums) > 0 {
				// The queries already run are reported with the error.
				_ = writeJSON(m.Stdout, map[string]any{"ok": false, "queries": sums, "error": map[string]any{"exit_code": 1,
					"problems": []errorProblem{{Key: "extract.queries", Message: fmt.Sprintf("extract %s: %v", q.Name, err)}}}})
			}
			return fmt.Errorf("extract %s: %w", q.Name, err)
		}
		if asJSON {
			sums = append(sums, newSummaryReport(sum))
		} else {
			printSummary(m.Stdout, sum)
		}
		failed = failed || sum.Failed > 0
	}
	if asJSON {
		if err := writeJSON(m.Stdout, map[string]any{"ok": !failed, "queries": sums}); err != nil {
			return err
		}
	}
	if failed {
		return ErrExtractFailed
	}
	return nil
}

// runLeased runs a query under its lease, as the daemon does, so that a
// one-shot run and a daemon never run the same query at once.
func runLeased(ctx context.Context, leases *lease.Holder, ex *extract.Extractor, q extract.Query, minters extract.Accounts) (extract.Summary, error) {
	ctx, release, err := leases.Hold(ctx, extractLease(q.Name))
	var held *storage.LeaseHeldError
	if errors.As(err, &held) {
		return extract.Summary{}, fmt.Errorf("another process (%s) runs it now, until %s at the latest", held.Holder.Owner,
			held.Holder.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return extract.Summary{}, err
	}
	defer release()
	return ex.Run(ctx, q, minters, "manual")
}

// selectQueries is the config's queries as extract runs them, narrowed to
// one query and one account when asked.
func selectQueries(cfg Config, only, account string) ([]extract.Query, error) {
	if len(cfg.Extract.Queries) == 0 {
		return nil, &UsageError{Msg: "the config has no extract.queries"}
	}
	if account != "" && !slices.ContainsFunc(cfg.Accounts, func(a AccountConfig) bool { return a.ID == account }) {
		return nil, &UsageError{Msg: fmt.Sprintf("--account %q is not in the config", account)}
	}
	var out []extract.Query
	for _, qc := range cfg.Extract.Queries {
		if only != "" && qc.Name != only {
			continue
		}
		q := cfg.extractQuery(qc)
		if account != "" {
			if !slices.Contains(q.Accounts, account) {
				continue
			}
			q.Accounts = []string{account}
		}
		out = append(out, q)
	}
	if only != "" && len(out) == 0 && !slices.ContainsFunc(cfg.Extract.Queries, func(q ExtractQueryConfig) bool { return q.Name == only }) {
		return nil, &UsageError{Msg: fmt.Sprintf("--query %q is not in extract.queries", only)}
	}
	return out, nil
}

// extractOptions are the extraction settings of a config.
func (w wiring) extractOptions(cfg Config, log *slog.Logger, obs extract.Observer) extract.Options {
	return extract.Options{Concurrency: cfg.Extract.Concurrency, TokenTTL: time.Duration(cfg.Extract.TokenTTL),
		DatabaseURL: cfg.Extract.DatabaseURL, Proxy: cfg.Extract.Proxy, Now: w.now, Logger: log, Observer: obs}
}

// minters builds each account's Platform API client when a run first
// needs it, reading its token then.
func (w wiring) minters(cfg *Config, lims *limiters, obs turso.Observer, log *slog.Logger) extract.Accounts {
	return func(id string) (extract.Minter, error) {
		for _, a := range cfg.Accounts {
			if a.ID == id {
				return w.client(cfg, a, lims, obs, log)
			}
		}
		return nil, fmt.Errorf("account %s is no longer configured", id)
	}
}

func printPlan(w io.Writer, q extract.Query, plan []extract.Planned) {
	skipped := 0
	for _, p := range plan {
		if p.Skip != "" {
			skipped++
		}
	}
	fmt.Fprintf(w, "%s: would query %d databases, skip %d (dry run: no token minted, nothing written)\n", q.Name, len(plan)-skipped, skipped)
	for _, p := range plan {
		line := fmt.Sprintf("  %s/%s  group %s  %s", p.Account, p.Org, p.Group, p.Name)
		if p.Skip != "" {
			line += "  skip: " + p.Skip
		}
		fmt.Fprintln(w, line)
	}
}

// extractSummaryReport is one query's run under --output json.
type extractSummaryReport struct {
	Query           string         `json:"query"`
	RunID           int64          `json:"run_id"`
	Status          string         `json:"status"`
	OK              int            `json:"databases_ok"`
	Failed          int            `json:"databases_failed"`
	Skipped         int            `json:"databases_skipped"`
	Rows            int64          `json:"rows"`
	DurationSeconds float64        `json:"duration_seconds"`
	FailedByClass   map[string]int `json:"failed_by_class,omitempty"`
}

func newSummaryReport(s extract.Summary) extractSummaryReport {
	return extractSummaryReport{Query: s.Query, RunID: s.RunID, Status: s.Status(), OK: s.OK, Failed: s.Failed, Skipped: s.Skipped, Rows: s.Rows,
		DurationSeconds: s.Duration.Seconds(), FailedByClass: s.Failures}
}

// extractPlanReport is one query's dry run under --output json.
type extractPlanReport struct {
	Query     string                 `json:"query"`
	Databases []extractPlannedReport `json:"databases"`
}

type extractPlannedReport struct {
	Account  string `json:"account"`
	Org      string `json:"org"`
	Group    string `json:"group"`
	Database string `json:"database"`
	Skip     string `json:"skip,omitempty"`
}

func newPlanReport(q extract.Query, plan []extract.Planned) extractPlanReport {
	r := extractPlanReport{Query: q.Name, Databases: []extractPlannedReport{}}
	for _, p := range plan {
		r.Databases = append(r.Databases, extractPlannedReport{Account: p.Account, Org: p.Org, Group: p.Group, Database: p.Name, Skip: p.Skip})
	}
	return r
}

func printSummary(w io.Writer, s extract.Summary) {
	line := fmt.Sprintf("%s: %d ok, %d failed, %d skipped, %d rows in %s", s.Query, s.OK, s.Failed, s.Skipped, s.Rows,
		s.Duration.Round(time.Millisecond))
	if len(s.Failures) > 0 {
		var parts []string
		for _, c := range slices.Sorted(maps.Keys(s.Failures)) {
			parts = append(parts, fmt.Sprintf("%s %d", c, s.Failures[c]))
		}
		line += " (failed: " + strings.Join(parts, ", ") + "; see extract_status)"
	}
	fmt.Fprintln(w, line)
}
