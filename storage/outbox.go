package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Outbox is the mirror as webhook delivery reads and writes it: the
// change events after each endpoint's cursor, the cursors, and the
// deliveries.
type Outbox struct{ s *Store }

// Outbox is the webhook outbox of the mirror.
func (s *Store) Outbox() *Outbox { return &Outbox{s: s} }

// Webhook delivery statuses (webhook_deliveries.status).
const (
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	DeliveryDead      = "dead"
)

// Cursor returns the last change event delivered to an endpoint for
// an account. An endpoint meets an account once: its cursor then starts at
// the account's latest event, so a new endpoint hears what changes from
// now on, not the mirror's whole history (tursync webhooks replay sends
// older ones).
func (o *Outbox) Cursor(ctx context.Context, endpoint, account string) (int64, error) {
	s := o.s
	return s.webhookCursor(ctx, endpoint, account, `SELECT coalesce(max(id), 0) FROM change_events WHERE account_id = ?`)
}

// OpsStream names an endpoint's cursor and deliveries of operational
// events, which follow runs, not change events.
func OpsStream(endpoint string) string { return endpoint + "#ops" }

// PolicyStream names an endpoint's cursor and deliveries of policy
// events (policy_events ids).
func PolicyStream(endpoint string) string { return endpoint + "#policy" }

// StreamEndpoint is the endpoint a stream's key belongs to.
func StreamEndpoint(stream string) string {
	endpoint, _, _ := strings.Cut(stream, "#")
	return endpoint
}

// PolicyCursor is Cursor for an endpoint's policy events (PolicyStream),
// starting at the account's latest.
func (o *Outbox) PolicyCursor(ctx context.Context, endpoint, account string) (int64, error) {
	return o.s.webhookCursor(ctx, PolicyStream(endpoint), account, `SELECT coalesce(max(id), 0) FROM policy_events WHERE account_id = ?`)
}

// PolicyEvent is one row of policy_events: a violation opened or
// resolved.
type PolicyEvent struct {
	ID                          int64
	Account, Type               string
	Policy, Severity            string
	Org, SubjectType, SubjectID string
	Details                     string
	At                          time.Time
}

// PolicyEventsAfter returns up to limit of an account's policy events
// after an id, oldest first.
func (o *Outbox) PolicyEventsAfter(ctx context.Context, account string, after int64, limit int) ([]PolicyEvent, error) {
	rows, err := o.s.db.QueryContext(ctx, `SELECT id, account_id, type, policy, severity, organization_id, subject_type, subject_id, details, at
		FROM policy_events WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?`, account, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read policy events of %s: %w", account, err)
	}
	defer rows.Close()
	var out []PolicyEvent
	for rows.Next() {
		var e PolicyEvent
		var at string
		if err := rows.Scan(&e.ID, &e.Account, &e.Type, &e.Policy, &e.Severity, &e.Org, &e.SubjectType, &e.SubjectID, &e.Details, &at); err != nil {
			return nil, err
		}
		e.At, _ = time.Parse(time.RFC3339, at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// RunCursor is Cursor for an endpoint's operational events
// (OpsStream): the last run whose events were delivered, starting at the
// account's latest finished run.
func (o *Outbox) RunCursor(ctx context.Context, endpoint, account string) (int64, error) {
	s := o.s
	return s.webhookCursor(ctx, OpsStream(endpoint), account, `SELECT coalesce(max(id), 0) FROM sync_runs WHERE account_id = ? AND finished_at IS NOT NULL`)
}

func (s *Store) webhookCursor(ctx context.Context, endpoint, account, start string) (int64, error) {
	var last int64
	err := s.db.QueryRowContext(ctx, `SELECT last_event_id FROM webhook_cursors WHERE endpoint = ? AND account_id = ?`, endpoint, account).Scan(&last)
	if err == nil {
		return last, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("webhook cursor of %s for %s: %w", endpoint, account, err)
	}
	if err := s.db.QueryRowContext(ctx, start, account).Scan(&last); err != nil {
		return 0, fmt.Errorf("start webhook cursor of %s for %s: %w", endpoint, account, err)
	}
	err = s.exec(ctx, nil, `INSERT INTO webhook_cursors (endpoint, account_id, last_event_id, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (endpoint, account_id) DO NOTHING`, endpoint, account, last, s.ts(s.now()))
	if err != nil {
		return 0, fmt.Errorf("start webhook cursor of %s for %s: %w", endpoint, account, s.explainWrite(err))
	}
	if err := s.db.QueryRowContext(ctx, `SELECT last_event_id FROM webhook_cursors WHERE endpoint = ? AND account_id = ?`, endpoint, account).Scan(&last); err != nil {
		return 0, fmt.Errorf("webhook cursor of %s for %s: %w", endpoint, account, err)
	}
	return last, nil
}

// SetCursor moves an endpoint's cursor for an account from one
// event id to another, and reports whether it was still at from (another
// process moved it otherwise, and nothing changes).
func (o *Outbox) SetCursor(ctx context.Context, endpoint, account string, from, to int64) (bool, error) {
	s := o.s
	if err := s.writeGuard(); err != nil {
		return false, fmt.Errorf("move webhook cursor of %s: %w", endpoint, err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE webhook_cursors SET last_event_id = ?, updated_at = ? WHERE endpoint = ? AND account_id = ? AND last_event_id = ?`,
		to, s.ts(s.now()), endpoint, account, from)
	if err != nil {
		return false, fmt.Errorf("move webhook cursor of %s for %s: %w", endpoint, account, s.explainWrite(err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ResetCursor puts an endpoint's cursor for an account just before
// an event id, so delivery starts again from it (a replay).
func (o *Outbox) ResetCursor(ctx context.Context, endpoint, account string, fromID int64) error {
	s := o.s
	err := s.exec(ctx, nil, `INSERT INTO webhook_cursors (endpoint, account_id, last_event_id, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (endpoint, account_id) DO UPDATE SET last_event_id = excluded.last_event_id, updated_at = excluded.updated_at`,
		endpoint, account, fromID-1, s.ts(s.now()))
	if err != nil {
		return fmt.Errorf("reset webhook cursor of %s for %s: %w", endpoint, account, s.explainWrite(err))
	}
	return nil
}

// ChangesAfter returns up to limit of an account's change events after an
// id, oldest first.
func (o *Outbox) ChangesAfter(ctx context.Context, account string, after int64, limit int) ([]ChangeEvent, error) {
	s := o.s
	out, err := s.changes(ctx, `WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?`, account, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read change events of %s: %w", account, err)
	}
	return out, nil
}

// WebhookDelivery is one attempt to deliver a batch.
type WebhookDelivery struct {
	Endpoint, Account, WebhookID string
	FirstEventID, LastEventID    int64
	Events, Attempt              int
	Status                       string
	StatusCode                   int
	Error                        string
	FirstAttemptAt, At           time.Time
	NextRetryAt                  time.Time // zero unless failed
}

// RecordDelivery records an attempt and returns its row's id, for
// FinishDelivery to record the answer on the same row.
func (o *Outbox) RecordDelivery(ctx context.Context, d WebhookDelivery) (int64, error) {
	s := o.s
	var id int64
	// RETURNING, not LastInsertId: a libSQL server may not report the id.
	err := s.queryWrite(ctx, func(row *sql.Row) error { return row.Scan(&id) },
		`INSERT INTO webhook_deliveries (endpoint, account_id, webhook_id, first_event_id, last_event_id, events, attempt,
		status, status_code, error, first_attempt_at, at, next_retry_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.Endpoint, d.Account, d.WebhookID, d.FirstEventID, d.LastEventID, d.Events, d.Attempt, d.Status, nullInt(d.StatusCode), nullStr(d.Error),
		s.ts(d.FirstAttemptAt), s.ts(d.At), s.nullTS(d.NextRetryAt))
	if err != nil {
		return 0, fmt.Errorf("record webhook delivery to %s: %w", d.Endpoint, s.explainWrite(err))
	}
	return id, nil
}

// FinishDelivery records an attempt's answer on the row
// RecordDelivery wrote before it was sent: one row per attempt.
func (o *Outbox) FinishDelivery(ctx context.Context, id int64, d WebhookDelivery) error {
	s := o.s
	err := s.exec(ctx, nil, `UPDATE webhook_deliveries SET status = ?, status_code = ?, error = ?, at = ?, next_retry_at = ? WHERE id = ?`,
		d.Status, nullInt(d.StatusCode), nullStr(d.Error), s.ts(d.At), s.nullTS(d.NextRetryAt), id)
	if err != nil {
		return fmt.Errorf("record webhook delivery to %s: %w", d.Endpoint, s.explainWrite(err))
	}
	return nil
}

// PendingDelivery returns the last attempt at the batch that starts after
// an endpoint's cursor, when that attempt failed: how many were made, since
// when, and when the next is due. ok is false when there is none.
func (o *Outbox) PendingDelivery(ctx context.Context, endpoint, account string, cursor int64) (WebhookDelivery, bool, error) {
	s := o.s
	d, err := s.lastDelivery(ctx, `endpoint = ? AND account_id = ? AND first_event_id > ?`, endpoint, account, cursor)
	if err != nil {
		return WebhookDelivery{}, false, fmt.Errorf("last webhook delivery to %s for %s: %w", endpoint, account, err)
	}
	if d == nil {
		return WebhookDelivery{}, false, nil
	}
	return *d, d.Status == DeliveryFailed, nil
}

// lastDelivery reads the latest attempt a condition picks, nil when none.
func (s *Store) lastDelivery(ctx context.Context, cond string, args ...any) (*WebhookDelivery, error) {
	var d WebhookDelivery
	var first, at string
	var next, msg sql.NullString
	var code sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT endpoint, account_id, webhook_id, first_event_id, last_event_id, events, attempt, status, status_code, error,
		first_attempt_at, at, next_retry_at FROM webhook_deliveries WHERE `+cond+` ORDER BY id DESC LIMIT 1`, args...).
		Scan(&d.Endpoint, &d.Account, &d.WebhookID, &d.FirstEventID, &d.LastEventID, &d.Events, &d.Attempt, &d.Status, &code, &msg, &first, &at, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d.StatusCode, d.Error = int(code.Int64), msg.String
	d.FirstAttemptAt, _ = time.Parse(time.RFC3339, first)
	d.At, _ = time.Parse(time.RFC3339, at)
	if next.Valid {
		d.NextRetryAt, _ = time.Parse(time.RFC3339, next.String)
	}
	return &d, nil
}

// WebhookLag is how far an endpoint is behind.
type WebhookLag struct {
	Events int64     // change events after the cursors
	Oldest time.Time // when the oldest of them was written; zero when none
}

// AgeAt is how old the oldest undelivered event is at now, in seconds; 0
// when there is none.
func (l WebhookLag) AgeAt(now time.Time) float64 {
	if l.Oldest.IsZero() {
		return 0
	}
	return max(now.Sub(l.Oldest).Seconds(), 0)
}

// Lag measures an endpoint's lag over its accounts, in one query.
func (o *Outbox) Lag(ctx context.Context, endpoint string, accounts []string) (WebhookLag, error) {
	s := o.s
	var lag WebhookLag
	if len(accounts) == 0 {
		return lag, nil
	}
	args := []any{endpoint}
	for _, a := range accounts {
		args = append(args, a)
	}
	var oldest sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT count(*), min(e.at) FROM change_events e
		JOIN webhook_cursors c ON c.endpoint = ? AND c.account_id = e.account_id
		WHERE e.account_id IN (?`+strings.Repeat(", ?", len(accounts)-1)+`) AND e.id > c.last_event_id`, args...).Scan(&lag.Events, &oldest)
	if err != nil {
		return lag, fmt.Errorf("webhook lag of %s: %w", endpoint, err)
	}
	if oldest.Valid {
		lag.Oldest, _ = time.Parse(time.RFC3339, oldest.String)
	}
	return lag, nil
}

// LastDelivery returns an endpoint's latest attempt, nil when none.
func (o *Outbox) LastDelivery(ctx context.Context, endpoint string) (*WebhookDelivery, error) {
	s := o.s
	d, err := s.lastDelivery(ctx, `endpoint = ?`, endpoint)
	if err != nil {
		return nil, fmt.Errorf("last webhook delivery to %s: %w", endpoint, err)
	}
	return d, nil
}

// OpsEvent is an operational event, derived from the runs the mirror
// records: a guarded scope, a scope failing ScopeFailedAfter passes in a
// row, an account whose pass failed after one that did not.
type OpsEvent struct {
	RunID               int64
	Type                string // scope.guarded, scope.failed, account.down, token.expiring
	At                  time.Time
	TokenExpiresAt      time.Time // token.expiring
	Account, Org        string
	Resource            string
	DeletesHeld         int
	ErrorClass, Error   string
	ConsecutiveFailures int
}

// TokenExpiringWithin is how close a token's expiry must be for a
// token.expiring event (once, when a run first finds it so close).
const TokenExpiringWithin = 14 * 24 * time.Hour

// ScopeFailedAfter is how many passes in a row a scope fails before a
// scope.failed event says so (once per streak).
const ScopeFailedAfter = 3

// RunEventsAfter returns the operational events of an account's finished
// runs after a run id, up to limit runs, oldest first, and the last run it
// read (the cursor's next value). It stops at a run still going, so the
// events stay in run order.
func (o *Outbox) RunEventsAfter(ctx context.Context, account string, after int64, limit int) ([]OpsEvent, int64, error) {
	s := o.s
	type run struct {
		id                          int64
		status, err, finish, expiry string
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, status, coalesce(error, ''), coalesce(finished_at, ''), coalesce(token_expires_at, '') FROM sync_runs
		WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?`, account, after, limit)
	if err != nil {
		return nil, after, fmt.Errorf("runs of %s: %w", account, err)
	}
	var runs []run
	for rows.Next() {
		var r run
		if err := rows.Scan(&r.id, &r.status, &r.err, &r.finish, &r.expiry); err != nil {
			rows.Close()
			return nil, after, err
		}
		if r.finish == "" {
			break // still going: its events, and all after, wait
		}
		runs = append(runs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, after, err
	}
	var out []OpsEvent
	last := after
	for _, r := range runs {
		at, _ := time.Parse(time.RFC3339, r.finish)
		evs, err := s.runEvents(ctx, account, r.id, r.status, r.err, at)
		if err != nil {
			return nil, after, err
		}
		if r.expiry != "" {
			exp, _ := time.Parse(time.RFC3339, r.expiry)
			e, err := s.tokenExpiring(ctx, account, r.id, at, exp)
			if err != nil {
				return nil, after, err
			}
			evs = append(evs, e...)
		}
		out, last = append(out, evs...), r.id
	}
	return out, last, nil
}

// runEvents are one finished run's operational events.
func (s *Store) runEvents(ctx context.Context, account string, runID int64, status, runErr string, at time.Time) ([]OpsEvent, error) {
	var out []OpsEvent
	if status == StatusFailed {
		var prev string
		err := s.db.QueryRowContext(ctx, `SELECT status FROM sync_runs WHERE account_id = ? AND id < ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1`,
			account, runID).Scan(&prev)
		if errors.Is(err, sql.ErrNoRows) || err == nil && prev != StatusFailed {
			out = append(out, OpsEvent{RunID: runID, Type: "account.down", At: at, Account: account, Error: runErr})
		} else if err != nil {
			return nil, err
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT organization_id, resource, status, coalesce(error_class, ''), coalesce(error, ''), deletes_held
		FROM sync_scopes WHERE run_id = ? AND status IN ('guarded', 'failed') ORDER BY organization_id, resource`, runID)
	if err != nil {
		return nil, err
	}
	var scopes []OpsEvent
	for rows.Next() {
		e := OpsEvent{RunID: runID, At: at, Account: account}
		var st string
		if err := rows.Scan(&e.Org, &e.Resource, &st, &e.ErrorClass, &e.Error, &e.DeletesHeld); err != nil {
			rows.Close()
			return nil, err
		}
		e.Type = "scope." + st
		scopes = append(scopes, e)
	}
	rows.Close()
	for _, e := range scopes {
		if e.Type == "scope.failed" {
			n, err := s.failedInARow(ctx, account, e.Org, e.Resource, runID)
			if err != nil {
				return nil, err
			}
			if n != ScopeFailedAfter {
				continue
			}
			e.ConsecutiveFailures = n
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// tokenExpiring is the token.expiring event of a run that found the token
// within TokenExpiringWithin of its expiry, when the run before it that
// validated the token did not (so once per token).
func (s *Store) tokenExpiring(ctx context.Context, account string, runID int64, at, exp time.Time) ([]OpsEvent, error) {
	if exp.Sub(at) > TokenExpiringWithin {
		return nil, nil
	}
	var prevExp, prevAt string
	err := s.db.QueryRowContext(ctx, `SELECT token_expires_at, finished_at FROM sync_runs WHERE account_id = ? AND id < ? AND token_expires_at IS NOT NULL
		AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1`, account, runID).Scan(&prevExp, &prevAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		pe, _ := time.Parse(time.RFC3339, prevExp)
		pa, _ := time.Parse(time.RFC3339, prevAt)
		if pe.Equal(exp) && pe.Sub(pa) <= TokenExpiringWithin {
			return nil, nil // said already, of this token
		}
	}
	return []OpsEvent{{RunID: runID, Type: "token.expiring", At: at, Account: account, TokenExpiresAt: exp}}, nil
}

// failedInARow counts the passes up to a run that failed a scope, back to
// the last one that did not (at most ScopeFailedAfter+1 are read).
func (s *Store) failedInARow(ctx context.Context, account, org, resource string, runID int64) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status FROM sync_scopes WHERE account_id = ? AND organization_id = ? AND resource = ? AND run_id <= ?
		ORDER BY run_id DESC LIMIT ?`, account, org, resource, runID, ScopeFailedAfter+1)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			return 0, err
		}
		if st != StatusFailed {
			break
		}
		n++
	}
	return n, rows.Err()
}

// Forget removes the cursors of endpoints not in keep, so an
// endpoint taken out of the config no longer holds change events back
// from retention; added again, it starts anew.
func (o *Outbox) Forget(ctx context.Context, keep []string) (int64, error) {
	s := o.s
	q := `DELETE FROM webhook_cursors`
	var args []any
	if len(keep) > 0 {
		q += ` WHERE endpoint NOT IN (?` + strings.Repeat(", ?", 3*len(keep)-1) + `)`
		for _, k := range keep {
			args = append(args, k, OpsStream(k), PolicyStream(k))
		}
	}
	if err := s.writeGuard(); err != nil {
		return 0, fmt.Errorf("forget webhook cursors: %w", err)
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("forget webhook cursors: %w", s.explainWrite(err))
	}
	return res.RowsAffected()
}

// ExportStream names an endpoint's cursor and deliveries of export events
// (export_runs ids); they belong to no account (account_id ”).
func ExportStream(endpoint string) string { return endpoint + "#export" }

// ExportCursor is Cursor for an endpoint's export events (ExportStream),
// starting at the latest run.
func (o *Outbox) ExportCursor(ctx context.Context, endpoint string) (int64, error) {
	return o.s.webhookCursor(ctx, ExportStream(endpoint), "", `SELECT coalesce(max(id), 0) FROM export_runs WHERE ? = ''`)
}

// ExportEvent is a failed export run, as an export.failed event.
type ExportEvent struct {
	ID                int64
	Export, Trigger   string
	ErrorClass, Error string
	At                time.Time
}

// ExportEventsAfter reads the failed export runs after a cursor, oldest
// first, and the last run id it looked at (runs that went well are passed
// over).
func (o *Outbox) ExportEventsAfter(ctx context.Context, after int64, limit int) ([]ExportEvent, error) {
	rows, err := o.s.db.QueryContext(ctx, `SELECT id, export, trigger, coalesce(error_class, ''), coalesce(error, ''), finished_at FROM export_runs
		WHERE id > ? AND status = 'failed' ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("export runs after %d: %w", after, o.s.explain(err))
	}
	defer rows.Close()
	var out []ExportEvent
	for rows.Next() {
		var e ExportEvent
		var at string
		if err := rows.Scan(&e.ID, &e.Export, &e.Trigger, &e.ErrorClass, &e.Error, &at); err != nil {
			return nil, err
		}
		e.At, _ = time.Parse(time.RFC3339, at)
		out = append(out, e)
	}
	return out, rows.Err()
}
