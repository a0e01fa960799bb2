package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Controls is what operators set on accounts (docs/control.md): pauses
// and sync requests, kept in the mirror so that every daemon of it sees
// them and they survive restarts.
type Controls struct{ s *Store }

// Controls reads and writes the accounts' controls.
func (s *Store) Controls() *Controls { return &Controls{s: s} }

// AccountControl is one account's controls.
type AccountControl struct {
	Account  string
	Paused   bool
	PausedAt time.Time // when it was paused (zero while not)
	PausedBy string
	// SyncRequestedAt is the last sync request; SyncClaimedAt when a
	// daemon took it (zero while pending), SyncRunID the pass it ran.
	SyncRequestedAt, SyncClaimedAt time.Time
	SyncRequestedBy                string
	SyncRunID                      int64
}

// ErrNoRun is a run id the mirror does not have.
var ErrNoRun = errors.New("no such run")

// SetPaused pauses or resumes an account; by is who did it (a user of the
// control API, or the operating system user of `tursync accounts`).
func (c *Controls) SetPaused(ctx context.Context, account string, paused bool, by string) error {
	s := c.s
	if err := s.writeGuard(); err != nil {
		return err
	}
	at := any(nil)
	who := any(nil)
	if paused {
		at, who = s.ts(s.now()), by
	}
	err := s.exec(ctx, nil, `INSERT INTO account_controls (account_id, paused, paused_at, paused_by) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET paused = excluded.paused,
			paused_at = CASE WHEN excluded.paused AND paused THEN paused_at ELSE excluded.paused_at END,
			paused_by = CASE WHEN excluded.paused AND paused THEN paused_by ELSE excluded.paused_by END`, account, paused, at, who)
	if err != nil {
		return fmt.Errorf("set account %s paused=%v: %w", account, paused, s.explainWrite(err))
	}
	return nil
}

// RequestSync asks for a pass of the account now; a daemon that schedules
// it claims the request (ClaimSyncRequests).
func (c *Controls) RequestSync(ctx context.Context, account, by string) (time.Time, error) {
	s := c.s
	if err := s.writeGuard(); err != nil {
		return time.Time{}, err
	}
	now := s.now().UTC()
	err := s.exec(ctx, nil, `INSERT INTO account_controls (account_id, sync_requested_at, sync_requested_by) VALUES (?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET sync_requested_at = excluded.sync_requested_at,
			sync_requested_by = excluded.sync_requested_by, sync_claimed_at = NULL, sync_run_id = NULL`,
		account, now.Format(time.RFC3339Nano), by)
	if err != nil {
		return time.Time{}, fmt.Errorf("request a pass of account %s: %w", account, s.explainWrite(err))
	}
	return now, nil
}

// ClaimSyncRequest takes the account's pending sync request, if any: one
// daemon gets it, whatever others share the mirror.
func (c *Controls) ClaimSyncRequest(ctx context.Context, account string) (by string, ok bool, err error) {
	s := c.s
	if err := s.writeGuard(); err != nil {
		return "", false, err
	}
	err = s.queryWrite(ctx, func(r *sql.Row) error {
		err := r.Scan(&by)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		ok = err == nil
		return err
	}, `UPDATE account_controls SET sync_claimed_at = ? WHERE account_id = ? AND sync_requested_at IS NOT NULL AND sync_claimed_at IS NULL
		RETURNING coalesce(sync_requested_by, '')`, s.ts(s.now()), account)
	if err != nil {
		return "", false, fmt.Errorf("claim the sync request of account %s: %w", account, s.explainWrite(err))
	}
	return by, ok, nil
}

// RecordSyncRun records the pass a claimed request ran.
func (c *Controls) RecordSyncRun(ctx context.Context, account string, runID int64) error {
	s := c.s
	if err := s.exec(ctx, nil, `UPDATE account_controls SET sync_run_id = ? WHERE account_id = ?`, runID, account); err != nil {
		return fmt.Errorf("record the requested pass of account %s: %w", account, s.explainWrite(err))
	}
	return nil
}

// Get reads one account's controls (all zero when none were set).
func (c *Controls) Get(ctx context.Context, account string) (AccountControl, error) {
	all, err := c.list(ctx, `WHERE account_id = ?`, account)
	if err != nil || len(all) == 0 {
		return AccountControl{Account: account}, err
	}
	return all[0], nil
}

// List reads every account's controls.
func (c *Controls) List(ctx context.Context) ([]AccountControl, error) { return c.list(ctx, ``) }

func (c *Controls) list(ctx context.Context, where string, args ...any) ([]AccountControl, error) {
	rows, err := c.s.db.QueryContext(ctx, `SELECT account_id, paused, coalesce(paused_at, ''), coalesce(paused_by, ''),
		coalesce(sync_requested_at, ''), coalesce(sync_requested_by, ''), coalesce(sync_claimed_at, ''), coalesce(sync_run_id, 0)
		FROM account_controls `+where+` ORDER BY account_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read the accounts' controls: %w", c.s.explain(err))
	}
	defer rows.Close()
	var out []AccountControl
	for rows.Next() {
		var a AccountControl
		var pausedAt, requested, claimed string
		if err := rows.Scan(&a.Account, &a.Paused, &pausedAt, &a.PausedBy, &requested, &a.SyncRequestedBy, &claimed, &a.SyncRunID); err != nil {
			return nil, err
		}
		a.PausedAt, _ = time.Parse(time.RFC3339Nano, pausedAt)
		a.SyncRequestedAt, _ = time.Parse(time.RFC3339Nano, requested)
		a.SyncClaimedAt, _ = time.Parse(time.RFC3339Nano, claimed)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Run reads one pass as sync_runs records it.
func (c *Controls) Run(ctx context.Context, id int64) (RunRecord, error) {
	runs, err := c.s.queryRuns(ctx, `WHERE r.id = ?`, id)
	if err != nil {
		return RunRecord{}, fmt.Errorf("read run %d: %w", id, c.s.explain(err))
	}
	if len(runs) == 0 {
		return RunRecord{}, fmt.Errorf("run %d: %w", id, ErrNoRun)
	}
	return runs[0], nil
}
