// Package extract runs analysts' read-only SQL inside every selected tenant
// database of the linked orgs: it mints read-only tokens through the
// Platform API (kept in memory only), queries each database with
// libsql-client-go at bounded concurrency, and hands each database's rows
// to the mirror, where they replace its last snapshot.
package extract

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	stdsync "sync"
	"time"

	"github.com/tursync/tursync/sqlcheck"
	"github.com/tursync/tursync/storage"
)

// Query is one configured extraction.
type Query struct {
	Name string // [a-z0-9_]+: the view is extract_<Name>
	SQL  string // one SELECT or WITH statement (sqlcheck.Check)
	// Accounts are the accounts whose databases it reads.
	Accounts []string
	// Group and Database are globs (path.Match) over the group and the
	// name of the mirror's live databases.
	Group, Database string
	Timeout         time.Duration // per database
	MaxRows         int           // per database; more is an error for it
}

// selects reports whether the query reads the database.
func (q Query) selects(t storage.ExtractTarget) bool {
	g, _ := path.Match(q.Group, t.Group)
	n, _ := path.Match(q.Database, t.Name)
	return g && n
}

// Store is what extraction needs of the mirror.
type Store interface {
	Targets(ctx context.Context, accounts []string) ([]storage.ExtractTarget, error)
	BeginRun(ctx context.Context, query, trigger string) (int64, error)
	Save(ctx context.Context, outs []storage.ExtractOutcome) error
	FinishRun(ctx context.Context, r storage.ExtractRun) error
	MarkDeleted(ctx context.Context, query string, runID int64, accounts []string, now time.Time) (int64, error)
	EnsureView(ctx context.Context, query string, columns []string) error
}

// Observer hears about every database and run; the metrics implement it.
type Observer interface {
	ExtractDatabase(query, status string, rows int)
	ExtractRun(query string, ok, failed int, d time.Duration, reached bool, at time.Time)
}

// Options tune an Extractor.
type Options struct {
	Concurrency int           // databases queried at once
	TokenTTL    time.Duration // life of the minted tokens
	// DatabaseURL is the URL of a database, {hostname} standing for its
	// hostname (default libsql://{hostname}).
	DatabaseURL string
	// Proxy, when set, receives every database request, with the
	// database's Host header (libsql-client-go's WithProxy).
	Proxy string
	// OrgBreaker is DefaultOrgBreaker unless set.
	OrgBreaker int
	// ProgressEvery spaces the run's progress lines (databases done,
	// failed by class); default 10s.
	ProgressEvery time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
	Observer      Observer
}

// The defaults of the extract settings, which the config uses too.
const (
	// DefaultDatabaseURL reaches a Turso Cloud database over TLS.
	DefaultDatabaseURL = "libsql://{hostname}"
	DefaultConcurrency = 16
	DefaultTokenTTL    = time.Hour
)

// Extractor runs queries. It keeps the minted tokens between runs.
type Extractor struct {
	store  Store
	opts   Options
	tokens *tokens
}

// New returns an Extractor over the mirror.
func New(store Store, opts Options) *Extractor {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.DatabaseURL == "" {
		opts.DatabaseURL = DefaultDatabaseURL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OrgBreaker <= 0 {
		opts.OrgBreaker = DefaultOrgBreaker
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Extractor{store: store, opts: opts, tokens: newTokens(opts.TokenTTL, opts.Now)}
}

// Mints is how many tokens the Extractor has minted.
func (e *Extractor) Mints() int { return e.tokens.Mints() }

// Summary is what one run of a query did.
type Summary struct {
	RunID               int64
	Query               string
	OK, Failed, Skipped int
	Rows                int64
	Duration            time.Duration
	// Failures counts the failed databases per error class.
	Failures map[string]int
}

// Status is the run's status as extract_runs records it.
func (s Summary) Status() string {
	switch {
	case s.Failed == 0:
		return storage.StatusOK
	case s.OK == 0:
		return storage.StatusFailed
	}
	return storage.StatusPartial
}

// Planned is a database a query would read, or skip and why.
type Planned struct {
	storage.ExtractTarget
	Skip string // why it is skipped; "" when it is read
}

// Plan lists the databases the query reads now, without minting or
// querying anything.
func (e *Extractor) Plan(ctx context.Context, q Query) ([]Planned, error) {
	targets, err := e.store.Targets(ctx, q.Accounts)
	if err != nil {
		return nil, err
	}
	var out []Planned
	for _, t := range targets {
		if !q.selects(t) {
			continue
		}
		p := Planned{ExtractTarget: t}
		if t.BlockedReads {
			p.Skip = "reads are blocked (the database's block_reads or its org's blocked_reads)"
		}
		out = append(out, p)
	}
	return out, nil
}

// Accounts gives the Platform API client of each account, built at the
// start of a run (a rotated token file is read again).
type Accounts func(account string) (Minter, error)

// Run runs the query over every database it selects and records each
// database's outcome as it completes. A database that fails, fails alone;
// the error is for the run as a whole (the mirror, a cancelled context).
func (e *Extractor) Run(ctx context.Context, q Query, accounts Accounts, trigger string) (Summary, error) {
	start := e.opts.Now()
	sum := Summary{Query: q.Name, Failures: map[string]int{}}
	runID, err := e.store.BeginRun(ctx, q.Name, trigger)
	if err != nil {
		return sum, err
	}
	sum.RunID = runID
	err = e.run(ctx, q, accounts, &sum)
	sum.Duration = e.opts.Now().Sub(start)
	rec := storage.ExtractRun{ID: runID, Query: q.Name, Status: sum.Status(), FinishedAt: e.opts.Now(), OK: sum.OK, Failed: sum.Failed,
		Skipped: sum.Skipped, Rows: sum.Rows}
	if err != nil {
		rec.Status, rec.Error = storage.StatusFailed, err.Error()
	}
	// The run's record is written even when the context ended, so it is
	// not left running.
	if ferr := e.store.FinishRun(context.WithoutCancel(ctx), rec); ferr != nil && err == nil {
		err = ferr
	}
	if e.opts.Observer != nil {
		e.opts.Observer.ExtractRun(q.Name, sum.OK, sum.Failed, sum.Duration, err == nil && (sum.OK > 0 || sum.Failed == 0), e.opts.Now())
	}
	return sum, err
}

func (e *Extractor) run(ctx context.Context, q Query, accounts Accounts, sum *Summary) error {
	// Databases deleted since their last snapshot count as skipped by the
	// run that first finds them gone.
	gone, err := e.store.MarkDeleted(ctx, q.Name, sum.RunID, q.Accounts, e.opts.Now())
	if err != nil {
		return err
	}
	sum.Skipped += int(gone)
	if e.opts.Observer != nil {
		for range gone {
			e.opts.Observer.ExtractDatabase(q.Name, storage.ExtractSkipped, 0)
		}
	}
	plan, err := e.Plan(ctx, q)
	if err != nil {
		return err
	}
	rs := &runState{q: q, stmt: sqlcheck.Bounded(q.SQL, q.MaxRows+1), runID: sum.RunID, minters: newMinterCache(accounts),
		breaker: newBreaker(e.opts.OrgBreaker, e.opts.DatabaseURL)}
	e.opts.Logger.Info("extraction started", "query", q.Name, "databases", len(plan))
	work := make(chan Planned)
	go feed(ctx, plan, e.premint(ctx, plan, rs.minters), work)
	outcomes := make(chan outcome, e.opts.Concurrency)
	var workers stdsync.WaitGroup
	for range min(e.opts.Concurrency, max(len(plan), 1)) {
		workers.Go(func() {
			for p := range work {
				outcomes <- e.database(ctx, rs, p)
			}
		})
	}
	go func() {
		workers.Wait()
		close(outcomes)
	}()
	return e.save(ctx, q, outcomes, sum, len(plan))
}

// feed hands the plan's databases to the workers in order, each once its
// group's token is minted (or failed), and closes work at the end.
func feed(ctx context.Context, plan []Planned, ready map[groupKey]chan struct{}, work chan<- Planned) {
	defer close(work)
	for _, p := range plan {
		if p.Skip == "" {
			select {
			case <-ready[groupOf(p)]:
			case <-ctx.Done():
				return
			}
		}
		select {
		case work <- p:
		case <-ctx.Done():
			return
		}
	}
}

// groupKey names a group of an org of an account.
type groupKey struct{ account, org, group string }

func groupOf(p Planned) groupKey { return groupKey{p.Account, p.Org, p.Group} }

// premint mints the token of every group of the plan, in plan order, ahead
// of the workers: the databases of one group are queried while the next
// group's token is minted (the API's rate limit spaces the mints). The
// channel of a group closes once its token is there, or its mint failed
// (the workers then fail its databases with the remembered error).
func (e *Extractor) premint(ctx context.Context, plan []Planned, minters *minterCache) map[groupKey]chan struct{} {
	ready := map[groupKey]chan struct{}{}
	var order []groupKey
	for _, p := range plan {
		if k := groupOf(p); p.Skip == "" && ready[k] == nil {
			ready[k] = make(chan struct{})
			order = append(order, k)
		}
	}
	go func() {
		for _, k := range order {
			if m, err := minters.get(k.account); err == nil {
				_, _, _ = e.tokens.group(ctx, m, k.account, k.org, k.group)
			}
			close(ready[k])
		}
	}()
	return ready
}

// saveBatchBytes bounds the result bytes one write transaction carries:
// outcomes that arrive while one is written are saved together up to it
// (a libSQL server takes a transaction as one request). One database's
// snapshot is never split: its replacement is atomic.
const saveBatchBytes = 4 << 20

// save writes the outcomes as they arrive (one writer, so a file: mirror
// sees one write transaction at a time; those that arrive while it writes
// go together in the next) and builds the query's view from the first
// success's columns.
func (e *Extractor) save(ctx context.Context, q Query, outcomes <-chan outcome, sum *Summary, total int) error {
	var firstErr error
	viewed := false
	lastProgress := e.opts.Now()
	for o := range outcomes {
		batch := []outcome{o}
		size := o.size()
	more:
		for size < saveBatchBytes {
			select {
			case next, ok := <-outcomes:
				if !ok {
					break more
				}
				batch = append(batch, next)
				size += next.size()
			default:
				break more
			}
		}
		if firstErr != nil {
			continue // drain, so the workers end
		}
		if !viewed {
			viewed = e.buildView(ctx, q, batch)
		}
		if firstErr = e.saveBatch(ctx, batch); firstErr != nil {
			continue
		}
		for _, o := range batch {
			e.count(q, o, sum)
		}
		if now := e.opts.Now(); now.Sub(lastProgress) >= e.opts.ProgressEvery {
			lastProgress = now
			e.progress(q, sum, total)
		}
	}
	e.progress(q, sum, total)
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("extraction %s stopped: %w", q.Name, context.Cause(ctx))
	}
	return firstErr
}

// buildView makes the query's view from the first success of the batch,
// and reports whether there was one.
func (e *Extractor) buildView(ctx context.Context, q Query, batch []outcome) bool {
	for _, o := range batch {
		if o.Status == storage.ExtractOK {
			if err := e.store.EnsureView(ctx, q.Name, o.Columns); err != nil {
				e.opts.Logger.Warn("extraction view not built", "query", q.Name, "error", err)
			}
			return true
		}
	}
	return false
}

func (e *Extractor) saveBatch(ctx context.Context, batch []outcome) error {
	outs := make([]storage.ExtractOutcome, len(batch))
	for i, o := range batch {
		outs[i] = o.ExtractOutcome
	}
	return e.store.Save(ctx, outs)
}

// progress logs how far a run is, as a sync's progress lines do.
func (e *Extractor) progress(q Query, sum *Summary, total int) {
	e.opts.Logger.Info("extraction progress", "query", q.Name, "done", sum.OK+sum.Failed+sum.Skipped, "databases", total,
		"ok", sum.OK, "failed", sum.Failed, "skipped", sum.Skipped, "failed_by_class", sum.Failures)
}

// count adds a saved outcome to the summary, the log and the metrics.
func (e *Extractor) count(q Query, o outcome, sum *Summary) {
	switch o.Status {
	case storage.ExtractOK:
		sum.OK++
		sum.Rows += int64(len(o.Rows))
	case storage.ExtractFailed:
		sum.Failed++
		sum.Failures[o.Class]++
		e.opts.Logger.Warn("extraction failed for a database", "query", q.Name, "account", o.Target.Account, "org", o.Target.Org,
			"database", o.Target.Name, "class", o.Class, "error", o.Error)
	default:
		sum.Skipped++
	}
	if e.opts.Observer != nil {
		e.opts.Observer.ExtractDatabase(q.Name, o.Status, len(o.Rows))
	}
}
