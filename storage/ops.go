package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tursync/tursync/schema"
)

// ScopeHealth is the latest recorded state of one scope.
type ScopeHealth struct {
	Account, Org, Resource string
	LastStatus             string
	LastCompleteAt         time.Time // zero when it never completed
	LastAttemptAt          time.Time // when the last pass of it ended
	ErrorClass, Error      string
	DeletesHeld            int
	// OrgGone: the org was offboarded (its mirror row is tombstoned).
	OrgGone bool
}

// ScopeHealth returns the latest state of every scope of every account,
// ordered by account, org and resource, from scope_state (which a
// trigger keeps as passes record scopes: a status page of a thousand
// accounts reads it at every load), with the offboarded orgs read apart.
func (s *Store) ScopeHealth(ctx context.Context) ([]ScopeHealth, error) {
	gone := map[[2]string]bool{}
	orgs, err := s.db.QueryContext(ctx, `SELECT account_id, id FROM organizations WHERE deleted_at IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("read scope health: %w", err)
	}
	for orgs.Next() {
		var k [2]string
		if err := orgs.Scan(&k[0], &k[1]); err != nil {
			orgs.Close()
			return nil, fmt.Errorf("read scope health: %w", err)
		}
		gone[k] = true
	}
	orgs.Close()
	if err := orgs.Err(); err != nil {
		return nil, fmt.Errorf("read scope health: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT account_id, organization_id, resource, status, coalesce(error_class, ''), coalesce(error, ''),
		deletes_held, coalesce(last_complete_at, ''), last_attempt_at
		FROM scope_state ORDER BY account_id, organization_id, resource`)
	if err != nil {
		return nil, fmt.Errorf("read scope health: %w", err)
	}
	defer rows.Close()
	var out []ScopeHealth
	for rows.Next() {
		var h ScopeHealth
		var last, attempt string
		if err := rows.Scan(&h.Account, &h.Org, &h.Resource, &h.LastStatus, &h.ErrorClass, &h.Error, &h.DeletesHeld, &last,
			&attempt); err != nil {
			return nil, fmt.Errorf("read scope health: %w", err)
		}
		if last != "" {
			h.LastCompleteAt, _ = time.Parse(time.RFC3339, last)
		}
		h.LastAttemptAt, _ = time.Parse(time.RFC3339, attempt)
		h.OrgGone = gone[[2]string{h.Account, h.Org}]
		out = append(out, h)
	}
	return out, rows.Err()
}

// RunRecord is one row of sync_runs.
type RunRecord struct {
	ID         int64
	Account    string
	Trigger    string
	Status     string
	StartedAt  time.Time
	FinishedAt time.Time // zero while running, or when the process died mid-pass
	Error      string
	// Counts are the rows it created, updated, deleted and found
	// unchanged; APIRequests the Platform API requests it made.
	Counts      Counts
	APIRequests int64
}

// LastRuns returns the latest run of every account.
func (s *Store) LastRuns(ctx context.Context) (map[string]RunRecord, error) {
	runs, err := s.queryRuns(ctx, `WHERE r.id IN (SELECT max(id) FROM sync_runs GROUP BY account_id)`)
	if err != nil {
		return nil, fmt.Errorf("read last runs: %w", err)
	}
	out := map[string]RunRecord{}
	for _, r := range runs {
		out[r.Account] = r
	}
	return out, nil
}

// RecentRuns returns the n latest runs of all accounts, newest first.
func (s *Store) RecentRuns(ctx context.Context, n int) ([]RunRecord, error) {
	runs, err := s.queryRuns(ctx, `ORDER BY r.id DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("read recent runs: %w", err)
	}
	return runs, nil
}

func (s *Store) queryRuns(ctx context.Context, where string, args ...any) ([]RunRecord, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT r.id, r.account_id, r.trigger, r.status, r.started_at, coalesce(r.finished_at, ''), coalesce(r.error, ''),
		       r.rows_created, r.rows_updated, r.rows_deleted, r.rows_unchanged, r.api_requests
		FROM sync_runs r `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RunRecord
	for rows.Next() {
		var r RunRecord
		var started, finished string
		if err := rows.Scan(&r.ID, &r.Account, &r.Trigger, &r.Status, &started, &finished, &r.Error,
			&r.Counts.Created, &r.Counts.Updated, &r.Counts.Deleted, &r.Counts.Unchanged, &r.APIRequests); err != nil {
			return nil, err
		}
		r.StartedAt, _ = time.Parse(time.RFC3339, started)
		if finished != "" {
			r.FinishedAt, _ = time.Parse(time.RFC3339, finished)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ChangeEvent is one row of change_events.
type ChangeEvent struct {
	ID                   int64
	Account, Org         string
	At                   time.Time
	Entity, EntityID, Op string
	Changes              string // JSON: column -> {old, new}
	// Source is "audit_log" when an audit event explains the change, which
	// then gives HappenedAt and Actor; "observed" otherwise.
	Source     string
	HappenedAt *time.Time
	Actor      string
}

// RecentChanges returns the n latest change events, newest first.
func (s *Store) RecentChanges(ctx context.Context, n int) ([]ChangeEvent, error) {
	out, err := s.changes(ctx, `ORDER BY id DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("read recent changes: %w", err)
	}
	return out, nil
}

// changes reads the change events a WHERE/ORDER/LIMIT tail picks.
func (s *Store) changes(ctx context.Context, tail string, args ...any) ([]ChangeEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, account_id, coalesce(organization_id, ''), at, entity, entity_id, op, changes,
		source, happened_at, coalesce(actor, '')
		FROM change_events `+tail, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ChangeEvent
	for rows.Next() {
		var e ChangeEvent
		var at string
		var happened sql.NullString
		if err := rows.Scan(&e.ID, &e.Account, &e.Org, &at, &e.Entity, &e.EntityID, &e.Op, &e.Changes, &e.Source, &happened, &e.Actor); err != nil {
			return nil, err
		}
		e.At, _ = time.Parse(time.RFC3339, at)
		if happened.Valid {
			if t, err := time.Parse(time.RFC3339, happened.String); err == nil {
				e.HappenedAt = &t
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// liveRowQueries count an account's live rows per feed label (a
// resource's guarded feed under its name, another feed as
// "<resource>/<table>"; every row of an append-only table), and its users.
var liveRowQueries = func() map[string]string {
	q := map[string]string{schema.UsersLabel: `SELECT count(*) FROM users WHERE account_id = ? AND deleted_at IS NULL`}
	for _, r := range schema.Registry {
		for _, f := range r.Feeds {
			cond := "account_id = ?"
			if !f.Table.AppendOnly {
				cond += " AND deleted_at IS NULL"
			}
			if f.Filter != "" {
				cond += " AND " + f.Filter
			}
			q[r.Label(f)] = `SELECT count(*) FROM ` + f.Table.Quoted() + ` WHERE ` + cond
		}
	}
	return q
}()

// LiveRows counts an account's live rows per resource (and users).
func (s *Store) LiveRows(ctx context.Context, account string) (map[string]int64, error) {
	out := map[string]int64{}
	for res, q := range liveRowQueries {
		var n int64
		if err := s.db.QueryRowContext(ctx, q, account).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s rows of %s: %w", res, account, err)
		}
		out[res] = n
	}
	return out, nil
}

// accountTables hold rows keyed by account_id, children before parents
// (sync_scopes cascade from sync_runs but are listed so counts are shown).
var accountTables = func() []string {
	out := []string{"webhook_deliveries", "webhook_cursors", "change_events", "row_versions", "policy_events", "policy_violations", "policy_status",
		"sync_scopes", "scope_state", "run_hours", "sync_runs", "extract_results", "extract_status", "account_controls"}
	for _, t := range schema.AppendOnlyTables {
		out = append(out, t.Name)
	}
	for i := len(schema.EntityTables) - 1; i >= 0; i-- {
		out = append(out, schema.EntityTables[i].Name)
	}
	return append(append(out, "leases", "lease_fence"), stageTables...)
}()

// AccountRows counts every row the mirror holds for an account, live or
// tombstoned, by table.
func (s *Store) AccountRows(ctx context.Context, account string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range accountTables {
		var n int64
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM "`+t+`" WHERE account_id = ?`, account).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s rows of %s: %w", t, account, err)
		}
		if n > 0 {
			out[t] = n
		}
	}
	return out, nil
}

// PruneAccount removes every row of an account, in one transaction, and
// returns how many it removed per table.
func (s *Store) PruneAccount(ctx context.Context, account string) (map[string]int64, error) {
	if err := s.writeGuard(); err != nil {
		return nil, fmt.Errorf("prune account %s: %w", account, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("prune account %s: %w", account, err)
	}
	defer tx.Rollback()
	out := map[string]int64{}
	for _, t := range accountTables {
		res, err := tx.ExecContext(ctx, `DELETE FROM "`+t+`" WHERE account_id = ?`, account)
		if err != nil {
			return nil, fmt.Errorf("prune account %s: %s: %w", account, t, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			out[t] = n
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("prune account %s: %w", account, err)
	}
	return out, nil
}

// Retention says how old operational rows may get; 0 keeps them forever.
type Retention struct {
	ChangeEvents time.Duration
	SyncRuns     time.Duration
}

// Prune applies the retention settings at now and returns the rows removed
// per table. A run stays while it holds the last complete record of a
// scope, or is its account's latest, so that sync_health and /status never
// lose the age of a scope that has been failing for longer than the
// retention.
func (s *Store) Prune(ctx context.Context, r Retention, now time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	if err := s.writeGuard(); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	defer tx.Rollback()
	if r.ChangeEvents > 0 {
		// An event a webhook endpoint has not delivered yet stays: at least
		// once means nothing lost to retention either.
		res, err := tx.ExecContext(ctx, `DELETE FROM change_events WHERE at < ? AND NOT EXISTS (
			SELECT 1 FROM webhook_cursors c WHERE c.account_id = change_events.account_id AND instr(c.endpoint, '#') = 0
			  AND c.last_event_id < change_events.id)`, s.ts(now.Add(-r.ChangeEvents)))
		if err != nil {
			return nil, fmt.Errorf("prune change_events: %w", err)
		}
		out["change_events"], _ = res.RowsAffected()
		res, err = tx.ExecContext(ctx, `DELETE FROM policy_events WHERE at < ? AND NOT EXISTS (
			SELECT 1 FROM webhook_cursors c WHERE c.account_id = policy_events.account_id AND c.endpoint LIKE '%#policy'
			  AND c.last_event_id < policy_events.id)`, s.ts(now.Add(-r.ChangeEvents)))
		if err != nil {
			return nil, fmt.Errorf("prune policy_events: %w", err)
		}
		out["policy_events"], _ = res.RowsAffected()
		// History reaches back as far as the change events: a version that
		// ended before the cutoff goes, one that spans it stays, so the
		// history answers for every time within the window.
		res, err = tx.ExecContext(ctx, `DELETE FROM row_versions WHERE valid_to < ?`, s.ts(now.Add(-r.ChangeEvents)))
		if err != nil {
			return nil, fmt.Errorf("prune row_versions: %w", err)
		}
		out["row_versions"], _ = res.RowsAffected()
	}
	if r.SyncRuns > 0 {
		cutoff := s.ts(now.Add(-r.SyncRuns))
		// The scopes go first and explicitly: a remote libSQL connection may
		// not enforce the ON DELETE CASCADE.
		res, err := tx.ExecContext(ctx, `DELETE FROM sync_scopes WHERE run_id IN (`+prunableRuns+`)`, cutoff)
		if err != nil {
			return nil, fmt.Errorf("prune sync_scopes: %w", err)
		}
		out["sync_scopes"], _ = res.RowsAffected()
		res, err = tx.ExecContext(ctx, `DELETE FROM sync_runs WHERE id IN (`+prunableRuns+`)`, cutoff)
		if err != nil {
			return nil, fmt.Errorf("prune sync_runs: %w", err)
		}
		out["sync_runs"], _ = res.RowsAffected()
		// The charts' hourly sums of passes go with the passes.
		if _, err := tx.ExecContext(ctx, `DELETE FROM run_hours WHERE hour < substr(?, 1, 13)`, cutoff); err != nil {
			return nil, fmt.Errorf("prune run_hours: %w", err)
		}
		// An extraction run stays while it is its query's latest.
		res, err = tx.ExecContext(ctx, `DELETE FROM extract_runs WHERE started_at < ? AND status <> 'running'
		    AND id <> (SELECT max(l.id) FROM extract_runs l WHERE l.query = extract_runs.query)`, cutoff)
		if err != nil {
			return nil, fmt.Errorf("prune extract_runs: %w", err)
		}
		out["extract_runs"], _ = res.RowsAffected()
		// So do export runs: each export keeps its latest.
		res, err = tx.ExecContext(ctx, `DELETE FROM export_runs WHERE started_at < ?
		    AND id <> (SELECT max(l.id) FROM export_runs l WHERE l.export = export_runs.export)`, cutoff)
		if err != nil {
			return nil, fmt.Errorf("prune export_runs: %w", err)
		}
		out["export_runs"], _ = res.RowsAffected()
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return out, nil
}

// prunableRuns selects runs started before the cutoff (?) that are neither
// an account's latest run nor the last complete run of any scope.
const prunableRuns = `
	SELECT r.id FROM sync_runs r
	WHERE r.started_at < ?
	  AND r.id <> (SELECT max(l.id) FROM sync_runs l WHERE l.account_id = r.account_id)
	  AND NOT EXISTS (
	      SELECT 1 FROM sync_scopes s WHERE s.run_id = r.id AND s.status IN ('complete', 'guarded')
	        AND s.run_id = (SELECT max(c.run_id) FROM sync_scopes c
	                         WHERE c.account_id = s.account_id AND c.organization_id = s.organization_id
	                           AND c.resource = s.resource AND c.status IN ('complete', 'guarded')))`

// expectedRows is how many rows the scope's last complete pass fetched: the
// progress estimate of the next one. 0 when unknown, and for audit logs,
// whose passes fetch only what is new.
func (s *Store) expectedRows(ctx context.Context, account, org, resource string) (int64, error) {
	if r := schema.Lookup(resource); r != nil && r.Kind == schema.Appended {
		return 0, nil
	}
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT rows_created + rows_updated + rows_unchanged FROM sync_scopes
		WHERE account_id = ? AND organization_id = ? AND resource = ? AND status IN ('complete', 'guarded')
		ORDER BY run_id DESC LIMIT 1`, account, org, resource).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// DueDatabase is a live database whose details a pass may refresh.
type DueDatabase struct {
	ID, Name string
}

// detailsDue lists up to limit live databases of an org, those whose
// details were never refreshed first, then the least recently refreshed.
func (s *Store) detailsDue(ctx context.Context, account, org string, limit int) ([]DueDatabase, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT d.id, d.name FROM databases d
		LEFT JOIN database_details dd ON dd.account_id = d.account_id AND dd.organization_id = d.organization_id AND dd.id = d.id AND dd.deleted_at IS NULL
		WHERE d.account_id = ? AND d.organization_id = ? AND d.deleted_at IS NULL
		ORDER BY dd.refreshed_at IS NOT NULL, dd.refreshed_at, d.id LIMIT ?`, account, org, limit)
	if err != nil {
		return nil, fmt.Errorf("databases due for details in %s: %w", org, err)
	}
	defer rows.Close()
	var out []DueDatabase
	for rows.Next() {
		var d DueDatabase
		if err := rows.Scan(&d.ID, &d.Name); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
