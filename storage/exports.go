package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tursync/tursync/schema"
)

// Exports is the mirror as exports read it (docs/exports.md): a
// consistent read of its tables, and what changed after an export's
// cursor.
type Exports struct{ s *Store }

// Exports reads the mirror for exports.
func (s *Store) Exports() *Exports { return &Exports{s: s} }

// ExportRead is one consistent read of the mirror: every row it returns
// is as of one moment, whatever commits meanwhile.
type ExportRead struct {
	tx *sql.Tx
	s  *Store
}

// Begin starts a consistent read; Close ends it. It takes no lock
// writers wait on: a file: mirror's transactions otherwise begin
// IMMEDIATE (holding the write lock from their start, which a pass's
// commit needs), and an export's read can last as long as its copy, so it
// begins as a read (a libSQL server's BEGIN already is one, and its driver
// refuses the read-only option).
func (e *Exports) Begin(ctx context.Context) (*ExportRead, error) {
	tx, err := e.s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: !e.s.remote})
	if err != nil {
		return nil, fmt.Errorf("begin a read of the mirror: %w", e.s.explain(err))
	}
	r := &ExportRead{tx: tx, s: e.s}
	// A read transaction's snapshot starts at its first read: take it now.
	if _, err := r.Cursor(ctx); err != nil {
		tx.Rollback()
		return nil, err
	}
	return r, nil
}

// Close ends the read.
func (r *ExportRead) Close() { _ = r.tx.Rollback() }

// ExportCursor is how far an export has read the mirror: the last change
// event, the last scope recorded (sync_scopes' rowid, which grows in
// commit order), the last audit log row and row version (rowids: both
// tables only grow, retention removing their oldest rows) and the newest
// usage day.
type ExportCursor struct {
	Event, Scope, Audit, Versions int64
	UsageDay                      string
}

// Position is where the mirror is now, and the oldest change event it
// still keeps (0: none kept) with the highest id it ever gave one.
type Position struct {
	ExportCursor
	OldestEvent, HighestEvent int64
}

// Cursor reads where the mirror is now.
func (r *ExportRead) Cursor(ctx context.Context) (Position, error) {
	var p Position
	err := r.tx.QueryRowContext(ctx, `SELECT
		(SELECT coalesce(max(id), 0) FROM change_events), (SELECT coalesce(min(id), 0) FROM change_events),
		(SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'change_events'),
		(SELECT coalesce(max(rowid), 0) FROM sync_scopes), (SELECT coalesce(max(rowid), 0) FROM audit_logs),
		(SELECT coalesce(max(rowid), 0) FROM row_versions), (SELECT coalesce(max(day), '') FROM usage)`).Scan(
		&p.Event, &p.OldestEvent, &p.HighestEvent, &p.Scope, &p.Audit, &p.Versions, &p.UsageDay)
	if err != nil {
		return p, fmt.Errorf("read the mirror's position: %w", r.s.explain(err))
	}
	return p, nil
}

// Overtaken reports whether change events after c were removed by
// retention before the export read them: the export must copy anew.
func (p Position) Overtaken(c ExportCursor) bool {
	if p.OldestEvent == 0 {
		return p.HighestEvent > c.Event
	}
	return p.OldestEvent > c.Event+1
}

// ExportFilter picks the rows of a table an export reads.
type ExportFilter struct {
	// Accounts keeps the rows of these accounts (account_id); nil keeps
	// every row (and is the only filter of a table without account_id).
	Accounts []string
	// Org, when set, keeps one org's rows ("" for account-wide tables).
	Org *string
	// After and UpTo, when UpTo > 0, keep rows whose rowid is in (After,
	// UpTo]: an append-only table's new rows.
	After, UpTo int64
	// DayFrom keeps usage rows of this day and later.
	DayFrom string
}

// where is the filter's condition. Its terms are written +column so that
// SQLite walks the table in rowid order, a page at a time from the last
// rowid, instead of an index on account_id that it would scan from the
// start again for every page.
func (f ExportFilter) where(t string) (string, []any) {
	var conds []string
	var args []any
	if f.Accounts != nil {
		conds = append(conds, "+account_id IN ("+placeholders(len(f.Accounts))+")")
		args = append(args, anys(f.Accounts)...)
	}
	if f.Org != nil {
		col := "organization_id"
		if t == schema.Organizations.Name {
			col = "id"
		}
		if tb := tableNamed(t); tb != nil && tb.OrgColumn == "" {
			// An account-wide table: only its own slice, the org "".
			if *f.Org != "" {
				conds = append(conds, "0")
			}
		} else {
			conds = append(conds, "+"+col+" = ?")
			args = append(args, *f.Org)
		}
	}
	if f.UpTo > 0 {
		conds = append(conds, "rowid > ? AND rowid <= ?")
		args = append(args, f.After, f.UpTo)
	}
	if f.DayFrom != "" {
		conds = append(conds, "+day >= ?")
		args = append(args, f.DayFrom)
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

func tableNamed(name string) *schema.Table {
	for _, t := range schema.DataTables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// exportPage bounds one read: a libSQL server refuses a response over 10 MB.
const exportPage = 2000

// Scan reads the table's rows the filter keeps, cols in that order, a page
// at a time in rowid order, and hands each to fn (vals are reused).
func (r *ExportRead) Scan(ctx context.Context, table string, cols []string, f ExportFilter, fn func(vals []any) error) error {
	where, args := f.where(table)
	q := `SELECT rowid, ` + quoteCols(cols) + ` FROM "` + table + `" WHERE ` + where + ` AND rowid > ? ORDER BY rowid LIMIT ` + fmt.Sprint(exportPage)
	var last int64
	for {
		n, err := r.page(ctx, q, append(append([]any(nil), args...), last), len(cols), func(rowid int64, vals []any) error {
			last = rowid
			return fn(vals)
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		if n < exportPage {
			return nil
		}
	}
}

// Changed reads the rows of an entity table that change events in
// (from, to] name, for the accounts, a chunk of events at a time. Each
// row's values end with three more: the op, time and actor of the last of
// those events that names it.
func (r *ExportRead) Changed(ctx context.Context, t *schema.Table, cols []string, accounts []string, from, to int64, fn func(vals []any) error) error {
	var match string
	switch {
	case len(t.Keys) == 1:
		match = `x.` + t.Keys[0] + ` = l.entity_id`
	case len(t.Keys) == 2 && t.Keys[0] == "organization_id":
		match = `x.organization_id = l.organization_id AND x.` + t.Keys[1] + ` = substr(l.entity_id, length(l.organization_id) + 2)`
	default:
		return fmt.Errorf("%s: no change events name its rows", t.Name)
	}
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = `x."` + c + `"`
	}
	q := `SELECT x.rowid, ` + strings.Join(sel, ", ") + `, e.op, e.at, e.actor
		FROM (SELECT account_id, entity_id, organization_id, max(id) AS id FROM change_events
		      WHERE id > ? AND id <= ? AND entity = ? AND account_id IN (` + placeholders(len(accounts)) + `)
		      GROUP BY account_id, entity_id, organization_id) l
		JOIN change_events e ON e.id = l.id
		JOIN ` + t.Quoted() + ` x ON x.account_id = l.account_id AND ` + match
	const chunk = exportPage
	for lo := from; lo < to; lo += chunk {
		args := append([]any{lo, min(lo+chunk, to), t.Name}, anys(accounts)...)
		if _, err := r.page(ctx, q, args, len(cols)+3, func(_ int64, vals []any) error { return fn(vals) }); err != nil {
			return fmt.Errorf("read the changed rows of %s: %w", t.Name, err)
		}
	}
	return nil
}

func (r *ExportRead) page(ctx context.Context, q string, args []any, ncols int, fn func(rowid int64, vals []any) error) (int, error) {
	rows, err := r.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, r.s.explain(err)
	}
	defer rows.Close()
	vals := make([]any, ncols)
	ptrs := make([]any, ncols+1)
	var rowid int64
	ptrs[0] = &rowid
	for i := range vals {
		ptrs[i+1] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		n++
		if err := fn(rowid, vals); err != nil {
			return n, err
		}
	}
	return n, rows.Err()
}

func quoteCols(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = `"` + c + `"`
	}
	return strings.Join(q, ", ")
}

// ScopeKey names a scope of a pass: an account's org (or "") and resource.
type ScopeKey struct{ Account, Org, Resource string }

// Baselines lists the scopes of the accounts recorded in (from, to]
// (sync_scopes' rowid) that were their first complete pass, which wrote
// rows without change events (a new org, a resource newly enabled).
func (r *ExportRead) Baselines(ctx context.Context, accounts []string, from, to int64) ([]ScopeKey, error) {
	return r.scopes(ctx, "the scopes passed since the export", `SELECT DISTINCT s.account_id, s.organization_id, s.resource FROM sync_scopes s
		WHERE s.rowid > ? AND s.rowid <= ? AND s.status IN ('complete', 'guarded') AND s.account_id IN (`+placeholders(len(accounts))+`)
		  AND NOT EXISTS (SELECT 1 FROM sync_scopes o WHERE o.account_id = s.account_id AND o.organization_id = s.organization_id
		    AND o.resource = s.resource AND o.status IN ('complete', 'guarded') AND o.rowid < s.rowid)`,
		append([]any{from, to}, anys(accounts)...))
}

// Written lists the scopes of a resource recorded in (from, to]
// (sync_scopes' rowid) that wrote rows: where a table without change
// events (usage) changed since an export read it.
func (r *ExportRead) Written(ctx context.Context, accounts []string, resource string, from, to int64) ([]ScopeKey, error) {
	return r.scopes(ctx, "the scopes that wrote "+resource+" since the export", `SELECT DISTINCT account_id, organization_id, resource FROM sync_scopes
		WHERE rowid > ? AND rowid <= ? AND resource = ? AND rows_created + rows_updated + rows_deleted > 0
		  AND account_id IN (`+placeholders(len(accounts))+`)`,
		append([]any{from, to, resource}, anys(accounts)...))
}

func (r *ExportRead) scopes(ctx context.Context, what, q string, args []any) ([]ScopeKey, error) {
	rows, err := r.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, r.s.explain(err))
	}
	defer rows.Close()
	var out []ScopeKey
	for rows.Next() {
		var k ScopeKey
		if err := rows.Scan(&k.Account, &k.Org, &k.Resource); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// Accounts lists the accounts the mirror has passes of.
func (r *ExportRead) Accounts(ctx context.Context) ([]string, error) {
	out, err := stringsOf(r.tx.QueryContext(ctx, `SELECT DISTINCT account_id FROM sync_runs ORDER BY account_id`))
	if err != nil {
		return nil, fmt.Errorf("read the mirror's accounts: %w", r.s.explain(err))
	}
	return out, nil
}

// Head is the mirror's last change event now: an export's lag is how far
// its cursor is behind it.
func (e *Exports) Head(ctx context.Context) (int64, error) {
	var id int64
	if err := e.s.db.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM change_events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("read the last change event: %w", e.s.explain(err))
	}
	return id, nil
}

// ExportRun is one run of an export as export_runs keeps it.
type ExportRun struct {
	Export, Trigger       string
	StartedAt, FinishedAt time.Time
	// Err is why it failed (nil: ok), ErrorClass its class.
	Err        error
	ErrorClass string
	Rows       int64
	Cursor     int64
}

// RecordRun writes a finished run of an export.
func (e *Exports) RecordRun(ctx context.Context, r ExportRun) error {
	s := e.s
	if err := s.writeGuard(); err != nil {
		return err
	}
	status, errText := "ok", ""
	if r.Err != nil {
		status, errText = "failed", r.Err.Error()
	}
	err := s.exec(ctx, nil, `INSERT INTO export_runs (export, trigger, started_at, finished_at, status, error_class, error, rows, cursor)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Export, r.Trigger, s.ts(r.StartedAt), s.ts(r.FinishedAt), status, nullStr(r.ErrorClass), nullStr(errText), r.Rows, r.Cursor)
	if err != nil {
		return fmt.Errorf("record export %s's run: %w", r.Export, s.explainWrite(err))
	}
	return nil
}
