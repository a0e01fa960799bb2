package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Webhook delivery statuses (webhook_deliveries.status).
const (
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	DeliveryDead      = "dead"
)

// WebhookCursor returns the last change event delivered to an endpoint for
// an account. An endpoint meets an account once: its cursor then starts at
// the account's latest event, so a new endpoint hears what changes from
// now on, not the mirror's whole history (tursync webhooks replay sends
// older ones).
func (s *Store) WebhookCursor(ctx context.Context, endpoint, account string) (int64, error) {
	var last int64
	err := s.db.QueryRowContext(ctx, `SELECT last_event_id FROM webhook_cursors WHERE endpoint = ? AND account_id = ?`, endpoint, account).Scan(&last)
	if err == nil {
		return last, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("webhook cursor of %s for %s: %w", endpoint, account, err)
	}
	err = s.exec(ctx, nil, `INSERT INTO webhook_cursors (endpoint, account_id, last_event_id, updated_at)
		SELECT ?, ?, coalesce(max(id), 0), ? FROM change_events WHERE account_id = ?
		ON CONFLICT (endpoint, account_id) DO NOTHING`, endpoint, account, s.ts(s.now()), account)
	if err != nil {
		return 0, fmt.Errorf("start webhook cursor of %s for %s: %w", endpoint, account, s.explainWrite(err))
	}
	if err := s.db.QueryRowContext(ctx, `SELECT last_event_id FROM webhook_cursors WHERE endpoint = ? AND account_id = ?`, endpoint, account).Scan(&last); err != nil {
		return 0, fmt.Errorf("webhook cursor of %s for %s: %w", endpoint, account, err)
	}
	return last, nil
}

// SetWebhookCursor moves an endpoint's cursor for an account from one
// event id to another, and reports whether it was still at from (another
// process moved it otherwise, and nothing changes).
func (s *Store) SetWebhookCursor(ctx context.Context, endpoint, account string, from, to int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE webhook_cursors SET last_event_id = ?, updated_at = ? WHERE endpoint = ? AND account_id = ? AND last_event_id = ?`,
		to, s.ts(s.now()), endpoint, account, from)
	if err != nil {
		return false, fmt.Errorf("move webhook cursor of %s for %s: %w", endpoint, account, s.explainWrite(err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ResetWebhookCursor puts an endpoint's cursor for an account just before
// an event id, so delivery starts again from it (a replay).
func (s *Store) ResetWebhookCursor(ctx context.Context, endpoint, account string, fromID int64) error {
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
func (s *Store) ChangesAfter(ctx context.Context, account string, after int64, limit int) ([]ChangeEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, account_id, coalesce(organization_id, ''), at, entity, entity_id, op, changes
		FROM change_events WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?`, account, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read change events of %s: %w", account, err)
	}
	defer rows.Close()
	var out []ChangeEvent
	for rows.Next() {
		var e ChangeEvent
		var at string
		if err := rows.Scan(&e.ID, &e.Account, &e.Org, &at, &e.Entity, &e.EntityID, &e.Op, &e.Changes); err != nil {
			return nil, fmt.Errorf("read change events of %s: %w", account, err)
		}
		e.At, _ = time.Parse(time.RFC3339, at)
		out = append(out, e)
	}
	return out, rows.Err()
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

// RecordWebhookDelivery records an attempt.
func (s *Store) RecordWebhookDelivery(ctx context.Context, d WebhookDelivery) error {
	var next any
	if !d.NextRetryAt.IsZero() {
		next = s.ts(d.NextRetryAt)
	}
	var code any
	if d.StatusCode != 0 {
		code = d.StatusCode
	}
	err := s.exec(ctx, nil, `INSERT INTO webhook_deliveries (endpoint, account_id, webhook_id, first_event_id, last_event_id, events, attempt,
		status, status_code, error, first_attempt_at, at, next_retry_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Endpoint, d.Account, d.WebhookID, d.FirstEventID, d.LastEventID, d.Events, d.Attempt, d.Status, code, nullStr(d.Error),
		s.ts(d.FirstAttemptAt), s.ts(d.At), next)
	if err != nil {
		return fmt.Errorf("record webhook delivery to %s: %w", d.Endpoint, s.explainWrite(err))
	}
	return nil
}

// PendingDelivery returns the last attempt at the batch that starts after
// an endpoint's cursor, when that attempt failed: how many were made, since
// when, and when the next is due. ok is false when there is none.
func (s *Store) PendingDelivery(ctx context.Context, endpoint, account string, cursor int64) (d WebhookDelivery, ok bool, err error) {
	var first, at string
	var next sql.NullString
	var code sql.NullInt64
	var msg sql.NullString
	err = s.db.QueryRowContext(ctx, `SELECT webhook_id, first_event_id, last_event_id, events, attempt, status, status_code, error, first_attempt_at, at, next_retry_at
		FROM webhook_deliveries WHERE endpoint = ? AND account_id = ? AND first_event_id > ? ORDER BY id DESC LIMIT 1`, endpoint, account, cursor).
		Scan(&d.WebhookID, &d.FirstEventID, &d.LastEventID, &d.Events, &d.Attempt, &d.Status, &code, &msg, &first, &at, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("last webhook delivery to %s for %s: %w", endpoint, account, err)
	}
	if d.Status != DeliveryFailed {
		return d, false, nil
	}
	d.Endpoint, d.Account, d.StatusCode, d.Error = endpoint, account, int(code.Int64), msg.String
	d.FirstAttemptAt, _ = time.Parse(time.RFC3339, first)
	d.At, _ = time.Parse(time.RFC3339, at)
	if next.Valid {
		d.NextRetryAt, _ = time.Parse(time.RFC3339, next.String)
	}
	return d, true, nil
}

// WebhookLag is how far an endpoint is behind for an account.
type WebhookLag struct {
	Events int64     // change events after the cursor
	Oldest time.Time // when the oldest of them was written; zero when none
}

// WebhookLagOf measures an endpoint's lag for an account.
func (s *Store) WebhookLagOf(ctx context.Context, endpoint, account string) (WebhookLag, error) {
	var lag WebhookLag
	var oldest sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT count(*), min(e.at) FROM change_events e
		JOIN webhook_cursors c ON c.endpoint = ? AND c.account_id = e.account_id
		WHERE e.account_id = ? AND e.id > c.last_event_id`, endpoint, account).Scan(&lag.Events, &oldest)
	if err != nil {
		return lag, fmt.Errorf("webhook lag of %s for %s: %w", endpoint, account, err)
	}
	if oldest.Valid {
		lag.Oldest, _ = time.Parse(time.RFC3339, oldest.String)
	}
	return lag, nil
}

// LastWebhookDelivery returns an endpoint's latest attempt, nil when none.
func (s *Store) LastWebhookDelivery(ctx context.Context, endpoint string) (*WebhookDelivery, error) {
	d := &WebhookDelivery{Endpoint: endpoint}
	var first, at string
	var code sql.NullInt64
	var msg sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT account_id, webhook_id, first_event_id, last_event_id, events, attempt, status, status_code, error, first_attempt_at, at
		FROM webhook_deliveries WHERE endpoint = ? ORDER BY id DESC LIMIT 1`, endpoint).
		Scan(&d.Account, &d.WebhookID, &d.FirstEventID, &d.LastEventID, &d.Events, &d.Attempt, &d.Status, &code, &msg, &first, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last webhook delivery to %s: %w", endpoint, err)
	}
	d.StatusCode, d.Error = int(code.Int64), msg.String
	d.FirstAttemptAt, _ = time.Parse(time.RFC3339, first)
	d.At, _ = time.Parse(time.RFC3339, at)
	return d, nil
}
