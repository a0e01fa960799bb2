package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/tursync/tursync/schema"
)

// commitOrg writes one org's pass as one commit: a reader sees the org
// before or after the pass, never in between. Failed and unavailable scopes
// write nothing but their sync_scopes record. On a mirror error nothing of
// the org is written and the error is returned. Every read it needs happens
// before the commit, whose transaction holds the write lock only while the
// server copies staged rows into place (see txBatch).
func (s *Store) commitOrg(ctx context.Context, op *orgCommit) (Committed, error) {
	var c Committed
	pl := s.newTxBatch(op.account, op.runID, op.dryRun)
	defer pl.discard(ctx)
	if op.offboard {
		if err := pl.offboard(ctx, op); err != nil {
			return c, s.explainWrite(fmt.Errorf("offboard org %s: %w", op.org, err))
		}
	}
	for _, sc := range op.scopes {
		pl.open(sc.Resource)
		pl.scope = sc
		if !op.offboard && sc.Status == StatusComplete {
			if err := pl.applyScope(ctx, op, sc); err != nil {
				return c, s.explainWrite(fmt.Errorf("apply org %s %s: %w", op.org, sc.Resource, err))
			}
		}
	}
	pl.recordScopes(op.org, op.scopes)
	if !op.dryRun {
		pl.attribute(op.org)
	}
	c.Scopes, c.TouchesUsers = op.scopes, pl.touchesUsers
	err := pl.commit(ctx, s.fence(op.account))
	c.Took = pl.took
	c.NearTimeout = s.remote && pl.took > TxnWarnAfter
	if err != nil {
		return c, s.explainWrite(fmt.Errorf("apply org %s: commit: %w", op.org, err))
	}
	return c, nil
}

// baseline reports whether this is the scope's first complete pass, which
// writes rows but no per-row change events.
func (p *txBatch) baseline(ctx context.Context, org, resource string) (bool, error) {
	var n int
	err := p.s.db.QueryRowContext(ctx, `SELECT count(*) FROM sync_scopes WHERE account_id = ? AND organization_id = ? AND resource = ? AND status IN ('complete', 'guarded')`,
		p.account, org, resource).Scan(&n)
	return n == 0, err
}

// feed is a table a scope feeds: the registry's facts (schema.Feed).
type feed = schema.Feed

// resourceOf is the registry's entry of a scope's resource.
func resourceOf(name string) (*schema.Resource, error) {
	r := schema.Lookup(name)
	if r == nil {
		return nil, fmt.Errorf("unknown resource %q", name)
	}
	return r, nil
}

func (p *txBatch) applyScope(ctx context.Context, op *orgCommit, sc *Scope) error {
	baseline, err := p.baseline(ctx, op.org, sc.Resource)
	if err != nil {
		return err
	}
	res, err := resourceOf(sc.Resource)
	if err != nil {
		return err
	}
	own := res.Table().Table
	switch res.Kind {
	case schema.Appended, schema.Counters:
		// One table, counted into sc.Counts as it is written.
		if res.Kind == schema.Appended {
			err = p.applyAudit(ctx, op.org, sc)
		} else {
			err = p.applyUsage(ctx, sc)
		}
		sc.Written = Tally{res.Name: sc.Counts}
		return err
	}
	sc.Written = Tally{}
	tally := func(t *schema.Table, op string, n int) {
		sc.Written.add(res.LabelOf(t), op, n)
		if t == own {
			sc.Counts.count(op, n)
		}
	}
	if sc.Users != nil {
		// Users are account-wide and never tombstoned by one org's scope;
		// their status is settled once the account's pass is over.
		if err := p.addUsers(ctx, sc.Users, baseline, tally); err != nil {
			return err
		}
	}
	if sc.Rows != nil {
		if err := p.addStaged(ctx, sc.Rows, baseline, tally); err != nil {
			return err
		}
	}
	p.close()
	if sc.Rows != nil && sc.Rows.Keys != nil {
		if err := p.stampRefreshed(ctx, res, sc.Rows.Keys); err != nil {
			return err
		}
	}
	if !res.Partial {
		if err := p.tombstoneMissing(ctx, op, res, sc, baseline, tally); err != nil {
			return err
		}
	}
	values := map[schema.Arg]any{schema.ArgAccount: p.account, schema.ArgOrg: op.org, schema.ArgRunID: p.runID, schema.ArgAt: p.at}
	for _, st := range res.After {
		args := make([]any, len(st.Args))
		for i, a := range st.Args {
			args[i] = values[a]
		}
		p.add(st.SQL, args...)
	}
	return nil
}

// stampRefreshed stamps the refresh time of every row the scope fetched in
// the tables that keep one.
func (p *txBatch) stampRefreshed(ctx context.Context, res *schema.Resource, keys KeyIter) error {
	for _, f := range res.Feeds {
		t := f.Table
		if t.RefreshedColumn == "" {
			continue
		}
		sid := p.sec.id + ":refreshed:" + t.Name
		err := keys(func(kt *schema.Table, k []string) error {
			if kt != t {
				return nil
			}
			return p.stageKey(ctx, sid, k)
		})
		if err != nil {
			return err
		}
		p.add(`UPDATE `+t.Quoted()+` SET `+t.RefreshedColumn+` = ? WHERE account_id = ? AND `+keyTuple(t)+` IN (`+stagedKeys(t)+`)`, p.at, p.account, sid)
	}
	return nil
}

// stageKey stages one row's key under sid, for a statement of the commit
// to pick the rows by (stagedKeys).
func (p *txBatch) stageKey(ctx context.Context, sid string, k []string) error {
	k2 := ""
	if len(k) > 1 {
		k2 = k[1]
	}
	return p.stage(ctx, "stage_keys", []string{"stage_id", "account_id", "k1", "k2"}, sid, p.account, k[0], k2)
}

// stagedKeys selects the keys staged under a stage id, as t's key tuple.
func stagedKeys(t *schema.Table) string {
	if len(t.Keys) > 1 {
		return `SELECT k1, k2 FROM stage_keys WHERE stage_id = ?`
	}
	return `SELECT k1 FROM stage_keys WHERE stage_id = ?`
}

// addUsers diffs a scope's users against the mirror as it is now, a batch
// at a time, and plans those to write.
func (p *txBatch) addUsers(ctx context.Context, users RowIter, baseline bool, tally tallier) error {
	batch := make([]schema.Row, 0, diffBatch)
	flush := func() error {
		st, err := p.s.stageRows(ctx, p.account, batch)
		if err != nil {
			return err
		}
		batch = batch[:0]
		return p.addStaged(ctx, st, baseline, tally)
	}
	err := users(func(r schema.Row) error {
		batch = append(batch, r)
		if len(batch) == diffBatch {
			return flush()
		}
		return nil
	})
	if err != nil || len(batch) == 0 {
		return err
	}
	return flush()
}

func (p *txBatch) applyAudit(ctx context.Context, org string, sc *Scope) error {
	if len(sc.Audit) == 0 {
		return nil
	}
	// Overlapping pages repeat events: the content id absorbs them.
	have := map[string]bool{}
	for start := 0; start < len(sc.Audit); start += diffBatch {
		batch := sc.Audit[start:min(start+diffBatch, len(sc.Audit))]
		args := []any{p.account, org}
		for _, a := range batch {
			args = append(args, a.ID)
		}
		rows, err := p.s.db.QueryContext(ctx, `SELECT id FROM audit_logs WHERE account_id = ? AND organization_id = ? AND id IN (?`+strings.Repeat(", ?", len(batch)-1)+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			have[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	n := 0
	for _, a := range sc.Audit {
		if have[a.ID] || a.OrganizationID != org {
			sc.Counts.Unchanged++
			continue
		}
		have[a.ID] = true
		n++
		sc.Counts.Created++
		if err := p.putNew(ctx, "INSERT OR IGNORE", "audit_logs", "stage_audit_logs", auditStageCols, 1,
			p.account, a.OrganizationID, a.ID, a.Code, a.Message, a.Origin, a.Author, a.CreatedAt, a.Data, string(a.RemoteData), p.at, p.sec.id); err != nil {
			return err
		}
	}
	if n > 0 && p.insertHeld("stage_audit_logs") {
		const cols = "account_id, organization_id, id, code, message, origin, author, created_at, data, remote_data, first_seen_at"
		p.add(`INSERT OR IGNORE INTO audit_logs (`+cols+`) SELECT `+cols+` FROM stage_audit_logs WHERE stage_id = ?`, p.sec.id)
	}
	return nil
}

// UsageIter yields usage rows one at a time.
type UsageIter func(yield func(schema.Usage) error) error

// StagedUsage is a usage scope after its diff: the rows to insert, those
// whose counters changed, and how many are unchanged.
type StagedUsage struct {
	New, Changed UsageIter
	Unchanged    int
}

// applyUsage stages the day's new and changed usage counters.
func (p *txBatch) applyUsage(ctx context.Context, sc *Scope) error {
	st := sc.Usage
	if st == nil {
		return nil
	}
	sc.Counts.Unchanged += st.Unchanged
	cols := usageStageCols
	for _, kind := range []struct {
		op   string
		rows UsageIter
		n    *int
	}{{"new", st.New, &sc.Counts.Created}, {"changed", st.Changed, &sc.Counts.Updated}} {
		if kind.rows == nil {
			continue
		}
		before := *kind.n
		err := kind.rows(func(u schema.Usage) error {
			*kind.n++
			vals := []any{p.account, u.OrganizationID, u.Day, u.DatabaseID, u.RowsRead, u.RowsWritten, u.StorageBytes, u.BytesSynced,
				p.at, string(u.RemoteData), p.sec.id, kind.op}
			if kind.op == "new" {
				return p.putNew(ctx, "INSERT", "usage", "stage_usage", cols, 2, vals...)
			}
			return p.stage(ctx, "stage_usage", cols, vals...)
		})
		if err != nil {
			return err
		}
		if *kind.n == before {
			continue
		}
		if kind.op == "new" {
			if !p.insertHeld("stage_usage") {
				continue
			}
			c := strings.Join(cols[:10], ", ")
			p.add(`INSERT INTO usage (`+c+`) SELECT `+c+` FROM stage_usage WHERE stage_id = ? AND stage_op = 'new' ORDER BY day, database_id`, p.sec.id)
			continue
		}
		p.add(`UPDATE usage SET rows_read = s.rows_read, rows_written = s.rows_written, storage_bytes = s.storage_bytes, bytes_synced = s.bytes_synced,
				observed_at = s.observed_at, remote_data = s.remote_data
			FROM (SELECT * FROM stage_usage WHERE stage_id = ? AND stage_op = 'changed') AS s
			WHERE usage.account_id = s.account_id AND usage.organization_id = s.organization_id AND usage.day = s.day AND usage.database_id = s.database_id`, p.sec.id)
	}
	return nil
}

// recordScopes adds the sync_scopes rows of an org's scopes, in one
// statement (a small org's commit runs a dozen statements, this one of
// them).
func (p *txBatch) recordScopes(org string, scopes []*Scope) {
	var rows [][]any
	for _, sc := range scopes {
		if sc.Status == StatusInterrupted {
			continue // nothing of it ran to an outcome; see StatusInterrupted
		}
		rows = append(rows, []any{p.runID, p.account, org, sc.Resource, sc.Status, nullStr(sc.ErrorClass), nullStr(sc.Error),
			sc.Counts.Created, sc.Counts.Updated, sc.Counts.Deleted, sc.Counts.Unchanged, sc.DeletesHeld,
			p.s.ts(sc.StartedAt), p.s.ts(sc.FinishedAt)})
	}
	p.stmts = append(p.stmts, insertRows(`sync_scopes (run_id, account_id, organization_id, resource, status, error_class, error,
		rows_created, rows_updated, rows_deleted, rows_unchanged, deletes_held, started_at, finished_at)`, rows)...)
}

// nullInt is n, or NULL for 0.
func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}
