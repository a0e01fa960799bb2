package sync

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/tursync/tursync/mapper"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
)

// syncOrg fetches every resource of one org, then writes them in one
// transaction. Fetching happens before the transaction opens, so the
// mirror's write lock is never held across network calls; databases are
// staged page by page in a spill file so memory does not grow with the org.
func (s *Syncer) syncOrg(ctx context.Context, a Account, p Pass, po plannedOrg, pf *prefetched, log *slog.Logger) OrgResult {
	org := p.Org(po.slug)
	if po.unknown != nil {
		return s.unknownOrg(ctx, a, org, po, log)
	}
	if po.vanished {
		return s.vanishedOrg(ctx, a, p, po, log)
	}
	or := OrgResult{Org: po.slug}
	of := s.startOrgFetch(ctx, a, org)
	defer of.close()
	// The results outlive the pass (a fleet's results are printed at the
	// end): drop each scope's rows once the org is written or given up.
	defer func() {
		for _, sc := range or.Scopes {
			sc.Rows, sc.Users, sc.Audit, sc.Usage = nil, nil, nil, nil
		}
	}()
	var authErr error
	or.Scopes, authErr = s.fetchScopes(ctx, fetchJob{a: a, org: po.slug, o: org, lk: p.Lookup(), pf: pf, of: of}, false, log)
	if authErr != nil {
		// Rule 7: nothing of this org is written; only the scopes are recorded.
		or.Err = authErr
		if err := org.Abandon(ctx, or.Scopes); err != nil {
			log.Error("record failed scopes", "error", err)
		}
		return or
	}
	s.writeOrg(ctx, org, &or, log)
	return or
}

// vanishedOrg handles an org in the mirror that the token no longer lists:
// offboarded (tombstoned, subject to the guard) once the API confirms it
// gone with a 404, synced as usual if it still answers.
func (s *Syncer) vanishedOrg(ctx context.Context, a Account, p Pass, po plannedOrg, log *slog.Logger) OrgResult {
	or := OrgResult{Org: po.slug}
	_, err := a.API.GetOrganization(ctx, po.slug)
	if turso.StatusOf(err) != 404 {
		if err == nil {
			// Still there, only unlisted: sync it like any other, with
			// its members and invites read first as for the listed orgs.
			po.vanished = false
			pf, err := s.prefetch(ctx, a, p, []plannedOrg{po})
			if err != nil {
				or.Err = err
				return or
			}
			defer pf.close()
			return s.syncOrg(ctx, a, p, po, pf, log)
		}
		or.Err = fmt.Errorf("check vanished org %s: %w", po.slug, err)
		log.Warn("vanished org not confirmed gone", "error", err)
		return or
	}
	return s.offboard(ctx, p.Org(po.slug), po.slug, log)
}

// offboard tombstones every row of an org the API confirmed gone (reason
// organization_removed), subject to the delete guard (reconcile rule 10).
func (s *Syncer) offboard(ctx context.Context, o Org, org string, log *slog.Logger) OrgResult {
	or := OrgResult{Org: org}
	c, err := o.Offboard(ctx)
	or.touchesUsers = c.TouchesUsers
	if err != nil {
		or.Err = err
		return or
	}
	or.Removed = true
	or.Scopes = c.Scopes
	for _, sc := range c.Scopes {
		if sc.Status == storage.StatusGuarded {
			log.Warn("org removal held by the delete guard", "deletes_held", sc.DeletesHeld)
		}
	}
	return or
}

// writeOrg commits one org's fetched pass. A mirror failure fails every
// scope that would have written (nothing was written) and records them.
func (s *Syncer) writeOrg(ctx context.Context, o Org, or *OrgResult, log *slog.Logger) {
	what := "org"
	if or.Org == "" {
		what = "account scopes"
	}
	log.Debug("writing "+what, "scopes", len(or.Scopes))
	c, err := o.Commit(ctx, or.Scopes)
	or.touchesUsers = c.TouchesUsers
	if in := interruption(ctx); err != nil && in != nil {
		// Cut by a signal or the shutdown: rolled back, nobody's failure.
		or.Err = fmt.Errorf("%w: the org's commit was rolled back, nothing of it written", in)
		log.Warn("org not written: interrupted", "by", in.By)
		for _, sc := range or.Scopes {
			if sc.Status == storage.StatusComplete || sc.Status == storage.StatusGuarded {
				sc.Status, sc.ErrorClass, sc.Error = storage.StatusInterrupted, "", or.Err.Error()
				sc.Counts, sc.DeletesHeld = storage.Counts{}, 0
			}
		}
		return
	}
	if err != nil {
		// A mirror failure fails every scope of the org: nothing was written.
		or.Err = err
		log.Error("org not written", "error", err)
		for _, sc := range or.Scopes {
			if sc.Status == storage.StatusComplete || sc.Status == storage.StatusGuarded {
				sc.Status, sc.ErrorClass, sc.Error = storage.StatusFailed, storage.ClassMirror, err.Error()
				sc.Counts, sc.DeletesHeld = storage.Counts{}, 0
			}
		}
		if rerr := o.Abandon(ctx, or.Scopes); rerr != nil {
			log.Error("record failed scopes", "error", rerr)
		}
		return
	}
	log.Debug(what+" written", "commit_ms", c.Took.Milliseconds())
	if c.NearTimeout {
		log.Warn("the org's commit held the mirror server's write lock close to its transaction timeout (sqld: 5 s while another writer waits); raise the namespace's txn_timeout_s for orgs this large",
			"commit_ms", c.Took.Milliseconds())
	}
	for _, sc := range or.Scopes {
		if sc.Status == storage.StatusGuarded {
			log.Warn("delete guard held deletes; confirm with --force-deletes", KeyResource, sc.Resource, "deletes_held", sc.DeletesHeld)
		}
		log.Debug("scope synced", KeyResource, sc.Resource, "status", sc.Status, "created", sc.Counts.Created,
			"updated", sc.Counts.Updated, "deleted", sc.Counts.Deleted, "unchanged", sc.Counts.Unchanged)
	}
}

// fetchScopes fills a scope for each resource the account syncs, the
// per-account ones or an org's, in registry order. After the token is
// refused (authErr), the remaining scopes fail without a request.
func (s *Syncer) fetchScopes(ctx context.Context, j fetchJob, perAccount bool, log *slog.Logger) (scopes []*storage.Scope, authErr error) {
	for i := range registry {
		res := &registry[i]
		if res.PerAccount != perAccount || !syncsResource(j.a, res.Name) {
			continue
		}
		if authErr != nil {
			scopes = append(scopes, &storage.Scope{Resource: res.Name, Status: storage.StatusFailed, ErrorClass: string(turso.ClassAuth),
				Error: "skipped: the token was refused earlier in this pass", StartedAt: s.o.Now(), FinishedAt: s.o.Now()})
			continue
		}
		j.sc = &storage.Scope{Resource: res.Name, StartedAt: s.o.Now()}
		err := s.fetchScope(ctx, res, j)
		sc := j.sc
		if err == nil && sc.Rows != nil && sc.Rows.Repeated > 0 {
			// Which of two rows with one key is right, the API does not
			// say: the first is kept, as the mirror always did, and said.
			log.Warn("the answer repeats keys: the first row of each was kept, the repeats dropped", KeyResource, res.Name,
				"repeated", sc.Rows.Repeated)
			s.o.Metrics.RowsRepeated(res.Name, sc.Rows.Repeated)
		}
		if err != nil {
			sc.Error = err.Error()
			sc.Rows, sc.Users, sc.Audit, sc.Usage = nil, nil, nil, nil
			lvl := slog.LevelWarn
			if sc.Status == storage.StatusUnavailable {
				lvl = slog.LevelInfo
			}
			log.Log(ctx, lvl, "scope not synced", KeyResource, res.Name, "status", sc.Status, "class", sc.ErrorClass, "error", err)
			if turso.ClassOf(err) == turso.ClassAuth {
				authErr = err
			}
		}
		scopes = append(scopes, sc)
	}
	return scopes, authErr
}

// fetchScope fills one scope and sets its status. Prefetched members and
// invites were fetched, and tracked, before the orgs.
func (s *Syncer) fetchScope(ctx context.Context, res *resource, j fetchJob) error {
	sc := j.sc
	if res.prefetched != nil {
		if done, err := res.prefetched(s, ctx, j); done {
			sc.Status, sc.ErrorClass = scopeStatus(err)
			if in := interruption(ctx); err != nil && in != nil {
				sc.Status, sc.ErrorClass, err = storage.StatusInterrupted, "", in
			}
			return err
		}
	}
	tr := trackerOf(ctx)
	tr.resourceStart(ctx, res.Name)
	err := res.fetch(s, ctx, j)
	sc.FinishedAt = s.o.Now()
	sc.Status, sc.ErrorClass = scopeStatus(err)
	if in := interruption(ctx); err != nil && in != nil {
		sc.Status, sc.ErrorClass, err = storage.StatusInterrupted, "", in
	}
	tr.resourceEnd(sc.Status)
	return err
}

// fetchAudit reads newest-first pages until it passes the stored high-water
// mark less the overlap, or the backfill window on the first pass.
func (s *Syncer) fetchAudit(ctx context.Context, j fetchJob) error {
	a, org, sc := j.a, j.org, j.sc
	hw, err := j.o.AuditHighWater(ctx)
	if err != nil {
		return err
	}
	stop := s.o.Now().Add(-s.o.Backfill)
	if hw != "" {
		if t, err := time.Parse(time.RFC3339, hw); err == nil {
			// An event stamped in the future must not move the mark past
			// events that are yet to arrive.
			stop = minTime(t, s.o.Now()).Add(-s.o.AuditOverlap)
		}
	}
	var prev []turso.AuditLog
	maxPages := 0
	for page := 1; ; page++ {
		p, err := a.API.AuditLogs(ctx, org, page, turso.AuditLogPageSize)
		if err != nil {
			return fmt.Errorf("audit logs page %d: %w", page, err)
		}
		if page == 1 {
			// Events arriving while we page push older ones further down,
			// so the count may grow a little; far past it, the server is
			// paging forever.
			maxPages = 2*p.Pagination.TotalPages + 10
		}
		if err := auditPagingLoop(org, page, maxPages, prev, p.AuditLogs); err != nil {
			return err
		}
		prev = p.AuditLogs
		trackerOf(ctx).page(len(p.AuditLogs))
		done := len(p.AuditLogs) == 0
		for _, ev := range p.AuditLogs {
			t, err := time.Parse(time.RFC3339, ev.CreatedAt)
			if err != nil {
				return &turso.APIError{Endpoint: turso.RouteAuditLogs, Org: org, Status: 200, Class: turso.ClassDecode,
					Err: fmt.Errorf("audit event created_at %q: %w", ev.CreatedAt, err)}
			}
			if t.Before(stop) {
				done = true
				break
			}
			sc.Audit = append(sc.Audit, mapper.AuditLog(org, ev))
		}
		if done || page >= p.Pagination.TotalPages {
			return nil
		}
	}
}

// auditPagingLoop reports a server that pages forever: a page that repeats
// the one before it, or more pages than the first page announced allows.
func auditPagingLoop(org string, page, maxPages int, prev, cur []turso.AuditLog) error {
	loop := func(why string) error {
		return &turso.APIError{Endpoint: turso.RouteAuditLogs, Org: org, Status: 200, Class: turso.ClassDecode,
			Err: fmt.Errorf("audit logs page %d: %s (pagination loop)", page, why)}
	}
	if page > maxPages {
		return loop(fmt.Sprintf("past %d pages", maxPages))
	}
	if len(cur) == 0 || len(cur) != len(prev) {
		return nil
	}
	for i := range cur {
		if string(cur[i].Raw) != string(prev[i].Raw) {
			return nil
		}
	}
	return loop("the same events as page " + strconv.Itoa(page-1))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// stageDatabases fetches an org's databases page by page and hands each
// page to a stager as it arrives (storage diffs it and keeps only what to
// write): memory holds one page whatever the org's size.
func (s *Syncer) stageDatabases(ctx context.Context, a Account, org string, of *orgFetch) (*storage.Staged, error) {
	// On a remote mirror the org's rows were read while its first scopes
	// were fetched, so diffing a page is pure work and the API is never
	// kept waiting on the mirror (see storage.Snapshot).
	<-of.dbDone
	if of.dbErr != nil {
		return nil, of.dbErr
	}
	g := storage.NewRowStager(of.dbSnap, s.o.SpillDir)
	of.keep(g)
	diff := startPipeline(2, func(rows []schema.Row) error {
		_, err := g.Page(ctx, rows)
		return err
	})
	tr := trackerOf(ctx)
	err := a.API.ListDatabases(ctx, org, func(page []turso.Database) error {
		tr.page(len(page))
		rows := make([]schema.Row, len(page))
		for i, d := range page {
			rows[i] = mapper.Database(org, d)
		}
		return diff.send(ctx, rows)
	})
	if derr := diff.wait(); err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	return g.Finish()
}

// stageUsage reads the org's usage and stages each page as it is decoded.
func (s *Syncer) stageUsage(ctx context.Context, a Account, org string, of *orgFetch) (*storage.StagedUsage, error) {
	<-of.usageDone
	if of.usageErr != nil {
		return nil, of.usageErr
	}
	g := storage.NewUsageStager(of.usageSnap, s.o.SpillDir)
	of.keep(g)
	diff := startPipeline(2, func(rows []schema.Usage) error { return g.Page(ctx, rows) })
	tr := trackerOf(ctx)
	u, err := a.API.OrganizationUsage(ctx, org, func(page []turso.DatabaseUsage) error {
		tr.page(len(page))
		return diff.send(ctx, mapper.DatabaseUsage(org, of.day, page))
	})
	if derr := diff.wait(); err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	if err := g.Page(ctx, []schema.Usage{mapper.OrgUsage(org, of.day, u)}); err != nil {
		return nil, err
	}
	return g.Finish()
}

// orgFetch is the state of one org's fetch: its stagers, and the
// snapshots of its large tables, read from the mirror while the org's
// first scopes are fetched.
type orgFetch struct {
	stagers []remover
	// newDatabases are the databases the pass found new, once its
	// databases scope is staged.
	newDatabases      storage.RowIter
	day               string
	dbDone, usageDone chan struct{}
	dbSnap            *storage.Snapshot
	usageSnap         *storage.UsageSnapshot
	dbErr, usageErr   error
	cancel            context.CancelFunc
}

func (s *Syncer) startOrgFetch(ctx context.Context, a Account, o Org) *orgFetch {
	ctx, cancel := context.WithCancel(ctx)
	of := &orgFetch{day: s.o.Now().UTC().Format("2006-01-02"), dbDone: make(chan struct{}), usageDone: make(chan struct{}), cancel: cancel}
	// readAhead runs read in the background when the pass fetches res, and
	// closes done when it is over (at once when it does not).
	readAhead := func(res string, done chan struct{}, read func()) {
		if !syncsResource(a, res) {
			close(done)
			return
		}
		go func() {
			defer close(done)
			read()
		}()
	}
	readAhead(schema.ResDatabases, of.dbDone, func() { of.dbSnap, of.dbErr = o.Snapshot(ctx, schema.ResDatabases) })
	readAhead(schema.ResUsage, of.usageDone, func() { of.usageSnap, of.usageErr = o.UsageSnapshot(ctx, of.day) })
	return of
}

// remover is a stager whose spill files go when the org is over.
type remover interface{ Remove() }

func (of *orgFetch) keep(r remover) { of.stagers = append(of.stagers, r) }

// close waits for the snapshot reads and removes the spill files.
func (of *orgFetch) close() {
	of.cancel()
	<-of.dbDone
	<-of.usageDone
	for _, r := range of.stagers {
		r.Remove()
	}
}
