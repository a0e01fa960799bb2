package sync

import (
	"context"
	"log/slog"
	"time"
)

// Progress is where an account's pass is: the org and resource being
// fetched, and how far. /status shows it while a pass runs, and `tursync
// sync` draws it on a terminal.
type Progress struct {
	Account  string `json:"-"`
	Org      string `json:"org"`
	OrgIndex int    `json:"org_index"` // 1-based, of Orgs
	Orgs     int    `json:"orgs"`
	Resource string `json:"resource"`
	Pages    int64  `json:"pages"`
	Rows     int64  `json:"rows"`
	// Expected is the rows the resource should hold, when known (the
	// last complete pass's count); 0 when unknown.
	Expected int64     `json:"expected_rows,omitempty"`
	Since    time.Time `json:"resource_started_at"`
}

// Progress event kinds, in the order a pass sends them.
const (
	ProgressOrgStart      = "org_start"
	ProgressResourceStart = "resource_start"
	ProgressPage          = "page"
	ProgressResourceEnd   = "resource_end"
)

// ProgressEvent is one step of a pass, handed to Options.OnProgress.
type ProgressEvent struct {
	Kind   string
	Status string // resource_end: complete, failed, unavailable
	Progress
}

// tracker follows one account's pass. Its methods are called from the
// pass's goroutine; the page counts of a resource may come from a fetch
// goroutine, so every update goes through the syncer's lock.
type tracker struct {
	s   *Syncer
	lk  Lookup // where a scope's expected rows come from
	log *slog.Logger
	p   Progress
}

func (s *Syncer) track(account string, lk Lookup, log *slog.Logger) *tracker {
	return &tracker{s: s, lk: lk, log: log, p: Progress{Account: account}}
}

type trackerKey struct{}

// withTracker hands the pass's tracker to the fetches below it, which
// count their pages into it.
func withTracker(ctx context.Context, t *tracker) context.Context {
	return context.WithValue(ctx, trackerKey{}, t)
}

// trackerOf is the pass's tracker, or nil (whose methods do nothing).
func trackerOf(ctx context.Context) *tracker {
	t, _ := ctx.Value(trackerKey{}).(*tracker)
	return t
}

// orgStart starts org i of n.
func (t *tracker) orgStart(org string, i, n int) {
	if t == nil {
		return
	}
	t.update(func(p *Progress) { p.Org, p.OrgIndex, p.Orgs, p.Resource = org, i, n, "" })
	t.log.Log(context.Background(), t.s.progressLevel(), "org started", KeyOrg, org, "org_index", i, "orgs", n)
	t.emit(ProgressEvent{Kind: ProgressOrgStart})
}

// resourceStart starts a resource of the current org.
func (t *tracker) resourceStart(ctx context.Context, resource string) {
	if t == nil {
		return
	}
	// The estimate only feeds the progress bars: without it they show
	// no total.
	expected, _ := t.lk.ExpectedRows(ctx, t.p.Org, resource)
	t.update(func(p *Progress) {
		p.Resource, p.Pages, p.Rows, p.Expected, p.Since = resource, 0, 0, expected, t.s.o.Now()
	})
	t.log.Log(ctx, t.s.progressLevel(), "resource started", KeyOrg, t.p.Org, KeyResource, resource, "expected_rows", expected)
	t.emit(ProgressEvent{Kind: ProgressResourceStart})
}

// page counts one page of rows of the current resource.
func (t *tracker) page(rows int) {
	if t == nil {
		return
	}
	t.update(func(p *Progress) { p.Pages++; p.Rows += int64(rows) })
	t.emit(ProgressEvent{Kind: ProgressPage})
}

// resourceEnd ends the current resource with its status.
func (t *tracker) resourceEnd(status string) {
	if t == nil {
		return
	}
	t.s.mu.Lock()
	p := t.p
	t.s.mu.Unlock()
	t.log.Log(context.Background(), t.s.progressLevel(), "resource done", KeyOrg, p.Org, KeyResource, p.Resource, "status", status,
		"pages", p.Pages, "rows", p.Rows, "duration", t.s.o.Now().Sub(p.Since).Round(time.Millisecond).String())
	t.emit(ProgressEvent{Kind: ProgressResourceEnd, Status: status})
}

// done forgets the pass: /status no longer shows it.
func (t *tracker) done() {
	if t == nil {
		return
	}
	t.s.mu.Lock()
	delete(t.s.inflight, t.p.Account)
	t.s.mu.Unlock()
}

func (t *tracker) update(fn func(*Progress)) {
	if t == nil {
		return
	}
	t.s.mu.Lock()
	fn(&t.p)
	p := t.p
	t.s.inflight[p.Account] = &p
	t.s.mu.Unlock()
}

func (t *tracker) emit(ev ProgressEvent) {
	if t.s.o.OnProgress == nil {
		return
	}
	t.s.mu.Lock()
	ev.Progress = t.p
	t.s.mu.Unlock()
	t.s.o.OnProgress(ev)
}

// progressLevel is info when the operator asked for progress lines (a
// `tursync sync` whose output is not a terminal), else debug: a daemon
// would log every resource of every pass.
func (s *Syncer) progressLevel() slog.Level {
	if s.o.ProgressLogs {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// InFlight returns where the account's pass is, if one runs.
func (s *Syncer) InFlight(account string) (Progress, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.inflight[account]
	if !ok {
		return Progress{}, false
	}
	return *p, true
}
