package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Extracts is the mirror as cross-tenant extraction reads and writes it:
// the databases to query, the runs, the result rows and their views.
type Extracts struct{ s *Store }

// Extracts is the extraction results of the mirror.
func (s *Store) Extracts() *Extracts { return &Extracts{s: s} }

// The statuses of extract_status (docs/extract.md).
const (
	ExtractOK      = StatusOK
	ExtractFailed  = StatusFailed
	ExtractSkipped = StatusSkipped
)

// ExtractTarget is a database of the mirror an extraction may query.
type ExtractTarget struct {
	Account, Org, DatabaseID, Name, Hostname, Group string
	// BlockedReads is the database's block_reads or its org's
	// blocked_reads: the database cannot be read.
	BlockedReads bool
}

// Targets lists the live databases of the accounts' live orgs, in a
// stable order.
func (x *Extracts) Targets(ctx context.Context, accounts []string) ([]ExtractTarget, error) {
	s := x.s
	if len(accounts) == 0 {
		return nil, nil
	}
	q := `SELECT d.account_id, d.organization_id, d.id, d.name, d.hostname, d.group_name,
	             d.block_reads <> 0 OR coalesce(o.blocked_reads, 0) <> 0
	      FROM databases d LEFT JOIN organizations o ON o.account_id = d.account_id AND o.id = d.organization_id
	      WHERE d.deleted_at IS NULL AND o.deleted_at IS NULL AND d.account_id IN (` + placeholders(len(accounts)) + `)
	      ORDER BY d.account_id, d.organization_id, d.group_name, d.name`
	rows, err := s.db.QueryContext(ctx, q, anys(accounts)...)
	if err != nil {
		return nil, fmt.Errorf("list extraction targets: %w", s.explain(err))
	}
	defer rows.Close()
	var out []ExtractTarget
	for rows.Next() {
		var t ExtractTarget
		if err := rows.Scan(&t.Account, &t.Org, &t.DatabaseID, &t.Name, &t.Hostname, &t.Group, &t.BlockedReads); err != nil {
			return nil, fmt.Errorf("list extraction targets: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list extraction targets: %w", s.explain(err))
	}
	return out, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, v := range ss {
		out[i] = v
	}
	return out
}

// BeginRun records a run of query as running and returns its id.
// The caller holds the query's lease, so a run of it still marked running
// was left by a process that died: it becomes aborted.
func (x *Extracts) BeginRun(ctx context.Context, query, trigger string) (int64, error) {
	s := x.s
	var id int64
	now := s.ts(s.now())
	if err := s.exec(ctx, nil, `UPDATE extract_runs SET status = 'aborted', finished_at = ?,
	        error = 'the process running it stopped before it finished' WHERE query = ? AND status = 'running'`, now, query); err != nil {
		return 0, s.explainWrite(fmt.Errorf("record extraction run of %s: %w", query, err))
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.retryBusy(ctx, func() error {
		return s.db.QueryRowContext(ctx, `INSERT INTO extract_runs (query, trigger, started_at, status) VALUES (?, ?, ?, 'running') RETURNING id`,
			query, trigger, now).Scan(&id)
	})
	if err != nil {
		return 0, s.explainWrite(fmt.Errorf("record extraction run of %s: %w", query, err))
	}
	s.wrote()
	return id, nil
}

// ExtractRun is what a run of a query did, as extract_runs records it.
type ExtractRun struct {
	ID                  int64
	Query, Trigger      string
	Status              string
	StartedAt           time.Time
	FinishedAt          time.Time
	OK, Failed, Skipped int
	Rows                int64
	Error               string
}

// FinishRun records the run's outcome.
func (x *Extracts) FinishRun(ctx context.Context, r ExtractRun) error {
	s := x.s
	err := s.exec(ctx, nil, `UPDATE extract_runs SET finished_at = ?, status = ?, databases_ok = ?, databases_failed = ?, databases_skipped = ?, rows = ?, error = ?
		WHERE id = ?`, s.ts(r.FinishedAt), r.Status, r.OK, r.Failed, r.Skipped, r.Rows, nullIfEmpty(r.Error), r.ID)
	if err != nil {
		return s.explainWrite(fmt.Errorf("record extraction run of %s: %w", r.Query, err))
	}
	return nil
}

func nullIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// LastRuns is the latest finished or running run of each query.
func (x *Extracts) LastRuns(ctx context.Context) (map[string]ExtractRun, error) {
	s := x.s
	rows, err := s.db.QueryContext(ctx, `SELECT id, query, trigger, status, started_at, coalesce(finished_at, ''), databases_ok, databases_failed,
	        databases_skipped, rows, coalesce(error, '')
	    FROM extract_runs WHERE id IN (SELECT max(id) FROM extract_runs GROUP BY query)`)
	if err != nil {
		return nil, fmt.Errorf("read extraction runs: %w", s.explain(err))
	}
	defer rows.Close()
	out := map[string]ExtractRun{}
	for rows.Next() {
		var r ExtractRun
		var started, finished string
		if err := rows.Scan(&r.ID, &r.Query, &r.Trigger, &r.Status, &started, &finished, &r.OK, &r.Failed, &r.Skipped, &r.Rows, &r.Error); err != nil {
			return nil, fmt.Errorf("read extraction runs: %w", err)
		}
		r.StartedAt, _ = time.Parse(time.RFC3339, started)
		r.FinishedAt, _ = time.Parse(time.RFC3339, finished)
		out[r.Query] = r
	}
	return out, rows.Err()
}

// ExtractOutcome is what one database gave one query in one run.
type ExtractOutcome struct {
	Query  string
	RunID  int64
	Target ExtractTarget
	Status string // ExtractOK, ExtractFailed or ExtractSkipped
	Class  string // of a failure: timeout, auth, sql, network, too_many_rows
	Error  string
	// Rows are the result's rows as JSON objects, for ExtractOK.
	Rows     [][]byte
	Duration time.Duration
	At       time.Time
}

// Save records databases' outcomes in one transaction (one commit
// for a batch of small databases instead of one each). A success replaces
// the database's snapshot and its status; a failure or a skip changes only
// the status, so the last good snapshot stays.
func (x *Extracts) Save(ctx context.Context, outs []ExtractOutcome) error {
	s := x.s
	var stmts []stmt
	for _, o := range outs {
		stmts = append(stmts, extractStmts(o, s.ts(o.At))...)
	}
	if err := s.commitBatch(ctx, nil, stmts); err != nil {
		t := outs[0].Target
		what := fmt.Sprintf("database %s (org %s)", t.Name, t.Org)
		if len(outs) > 1 {
			what = fmt.Sprintf("%d databases", len(outs))
		}
		return s.explainWrite(fmt.Errorf("save extraction %s of %s: %w", outs[0].Query, what, err))
	}
	return nil
}

// extractStmts are the statements that record one outcome.
func extractStmts(o ExtractOutcome, at string) []stmt {
	t := o.Target
	var stmts []stmt
	lastSuccess := "last_success_at"
	if o.Status == ExtractOK {
		lastSuccess = "excluded.last_success_at"
		// The rows go in as one JSON array that SQLite walks (json_each),
		// each replacing the row of the same number in place; rows past
		// the new count go. One statement a database, not one a row.
		var arr strings.Builder
		arr.WriteByte('[')
		for i, r := range o.Rows {
			if i > 0 {
				arr.WriteByte(',')
			}
			arr.Write(r)
		}
		arr.WriteByte(']')
		stmts = append(stmts,
			stmt{`DELETE FROM extract_results WHERE query = ? AND account_id = ? AND database_id = ? AND row_number > ?`,
				[]any{o.Query, t.Account, t.DatabaseID, len(o.Rows)}},
			stmt{`INSERT INTO extract_results (query, account_id, organization_id, database_id, database_name, run_id, row_number, data, extracted_at)
			    SELECT ?, ?, ?, ?, ?, ?, key + 1, value, ? FROM json_each(?) WHERE true
			    ON CONFLICT (query, account_id, database_id, row_number) DO UPDATE SET organization_id = excluded.organization_id,
			        database_name = excluded.database_name, run_id = excluded.run_id, data = excluded.data, extracted_at = excluded.extracted_at`,
				[]any{o.Query, t.Account, t.Org, t.DatabaseID, t.Name, o.RunID, at, arr.String()}})
	}
	return append(stmts, stmt{`INSERT INTO extract_status (query, account_id, organization_id, database_id, database_name, run_id, status, error_class, error,
	        rows, duration_ms, last_success_at, at)
	    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	    ON CONFLICT (query, account_id, database_id) DO UPDATE SET organization_id = excluded.organization_id,
	        database_name = excluded.database_name, run_id = excluded.run_id, status = excluded.status,
	        error_class = excluded.error_class, error = excluded.error, rows = excluded.rows,
	        duration_ms = excluded.duration_ms, last_success_at = ` + lastSuccess + `, at = excluded.at`,
		[]any{o.Query, t.Account, t.Org, t.DatabaseID, t.Name, o.RunID, o.Status, nullIfEmpty(o.Class), nullIfEmpty(o.Error),
			len(o.Rows), o.Duration.Milliseconds(), successAt(o, at), at}})
}

func successAt(o ExtractOutcome, at string) any {
	if o.Status == ExtractOK {
		return at
	}
	return nil
}

// MarkDeleted marks the status of every database of the accounts
// that has a snapshot of query but is no longer live in the mirror
// (tombstoned by a sync, or its org): skipped, its last snapshot kept.
// It returns how many it marked.
func (x *Extracts) MarkDeleted(ctx context.Context, query string, runID int64, accounts []string, now time.Time) (int64, error) {
	s := x.s
	if len(accounts) == 0 {
		return 0, nil
	}
	var n int64
	args := append([]any{runID, s.ts(now), query}, anys(accounts)...)
	err := s.exec(ctx, func(r sql.Result) { n, _ = r.RowsAffected() }, `UPDATE extract_status SET status = 'skipped', error_class = NULL,
	        error = 'database deleted: tombstoned in the mirror; its last snapshot is kept', rows = 0, duration_ms = 0, run_id = ?, at = ?
	    WHERE query = ? AND account_id IN (`+placeholders(len(accounts))+`) AND NOT EXISTS (
	        SELECT 1 FROM databases d JOIN organizations o ON o.account_id = d.account_id AND o.id = d.organization_id
	        WHERE d.account_id = extract_status.account_id AND d.organization_id = extract_status.organization_id
	          AND d.id = extract_status.database_id
	          AND d.deleted_at IS NULL AND o.deleted_at IS NULL)
	      AND NOT (status = 'skipped' AND error LIKE 'database deleted:%')`, args...)
	if err != nil {
		return 0, s.explainWrite(fmt.Errorf("mark deleted databases of %s: %w", query, err))
	}
	return n, nil
}

// EnsureView makes the view extract_<query> expose columns (the
// statement's, in its order) as real columns, beside account_id,
// organization_id, database_id and database_name. It is rebuilt only when
// the columns change. query is [a-z0-9_]+ (the config checks it).
func (x *Extracts) EnsureView(ctx context.Context, query string, columns []string) error {
	s := x.s
	want, _ := json.Marshal(columns)
	var have string
	err := s.db.QueryRowContext(ctx, `SELECT columns FROM extract_views WHERE query = ?`, query).Scan(&have)
	if err == nil && have == string(want) {
		return nil
	}
	sel := []string{"account_id", "organization_id", "database_id", "database_name"}
	for _, c := range columns {
		if strings.ContainsAny(c, "\"\x00") || c == "" {
			return fmt.Errorf("view extract_%s: column name %q cannot be a view column; give it a plain alias", query, c)
		}
		if slices.Contains(sel[:4], c) {
			return fmt.Errorf("view extract_%s: column %q is one of the view's own columns; give it another alias", query, c)
		}
		path := strings.ReplaceAll(`$."`+c+`"`, "'", "''")
		sel = append(sel, fmt.Sprintf(`json_extract(data, '%s') AS "%s"`, path, c))
	}
	view := "extract_" + query
	err = s.commitBatch(ctx, nil, []stmt{
		{`DROP VIEW IF EXISTS ` + view, nil},
		{`CREATE VIEW ` + view + ` AS SELECT ` + strings.Join(sel, ", ") + ` FROM extract_results WHERE query = '` + query + `'`, nil},
		{`INSERT INTO extract_views (query, columns, updated_at) VALUES (?, ?, ?)
		    ON CONFLICT (query) DO UPDATE SET columns = excluded.columns, updated_at = excluded.updated_at`, []any{query, string(want), s.ts(s.now())}},
	})
	if err != nil {
		return s.explainWrite(fmt.Errorf("create view %s: %w", view, err))
	}
	return nil
}

// extractTables hold the rows of a query, by the query column.
var extractTables = []string{"extract_results", "extract_status", "extract_runs", "extract_views"}

// QueryRows counts the rows the mirror holds for a query, by table.
func (x *Extracts) QueryRows(ctx context.Context, query string) (map[string]int64, error) {
	s := x.s
	out := map[string]int64{}
	for _, t := range extractTables {
		var n int64
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t+` WHERE query = ?`, query).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s rows of query %s: %w", t, query, err)
		}
		if n > 0 {
			out[t] = n
		}
	}
	return out, nil
}

// PruneQuery removes every row of a query and its view, in one
// transaction, and returns how many rows it removed per table. query is
// [a-z0-9_]+ (the caller checks it).
func (x *Extracts) PruneQuery(ctx context.Context, query string) (map[string]int64, error) {
	s := x.s
	out, err := x.QueryRows(ctx, query)
	if err != nil {
		return nil, err
	}
	stmts := []stmt{{`DROP VIEW IF EXISTS extract_` + query, nil}}
	for _, t := range extractTables {
		stmts = append(stmts, stmt{`DELETE FROM ` + t + ` WHERE query = ?`, []any{query}})
	}
	if err := s.commitBatch(ctx, nil, stmts); err != nil {
		return nil, s.explainWrite(fmt.Errorf("prune query %s: %w", query, err))
	}
	return out, nil
}
