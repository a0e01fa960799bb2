package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tursync/tursync/schema"
)

// ErrLeaseLost is returned by a write whose account lease is no longer its
// own: it expired, or another process took it.
var ErrLeaseLost = errors.New("the account's lease was lost (expired or taken by another process); nothing of this commit was written")

// Lease is this process's hold on one account: while it lasts, no other
// process writes the account.
type Lease struct {
	Account    string
	Owner      string
	Generation int64
	ExpiresAt  time.Time
	// TakenFrom names the holder this lease was taken from before its
	// expiry: a process of this host that no longer runs.
	TakenFrom string
}

// LeaseHolder says who holds a lease that could not be taken.
type LeaseHolder struct {
	Owner     string
	ExpiresAt time.Time
}

// LeaseHeldError is returned when another process holds the lease.
type LeaseHeldError struct {
	Account string
	Holder  LeaseHolder
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("account %s is being synced by %s (lease until %s; --lease-wait DURATION waits for it)",
		e.Account, e.Holder.Owner, e.Holder.ExpiresAt.UTC().Format(time.RFC3339))
}

// deadHolder reports whether a lease's owner (NewOwner's host:pid:id) is a
// process of this host that no longer runs: a SIGKILLed `tursync sync`
// would otherwise keep its accounts for the rest of lease_ttl.
func deadHolder(owner string) bool {
	parts := strings.Split(owner, ":")
	if len(parts) != 3 {
		return false
	}
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(parts[1])
	return host != "" && parts[0] == host && err == nil && pid > 0 && pid != os.Getpid() && !processRuns(pid)
}

// NewOwner names this process in leases: host, pid and a random id, so two
// processes never share a name.
func NewOwner() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), newStageID()[:8])
}

// AcquireLease takes the account's lease for ttl if it is free, expired, or
// already this owner's. When another process holds it, the error is a
// *LeaseHeldError. Taking it closes runs a dead holder left running (as
// aborted) and removes the stage rows it left.
func (s *Store) AcquireLease(ctx context.Context, account, owner string, ttl time.Duration) (*Lease, error) {
	now := s.now()
	exp := now.Add(ttl)
	var l Lease
	var expires string
	s.writeMu.Lock()
	err := s.retryBusy(ctx, func() error {
		return s.db.QueryRowContext(ctx, `INSERT INTO leases (account_id, owner, generation, acquired_at, expires_at) VALUES (?, ?, 1, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET owner = excluded.owner, generation = leases.generation + 1,
			       acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
			WHERE leases.expires_at <= ? OR leases.owner = excluded.owner
			RETURNING owner, generation, expires_at`,
			account, owner, s.tsMilli(now), s.tsMilli(exp), s.tsMilli(now)).Scan(&l.Owner, &l.Generation, &expires)
	})
	s.writeMu.Unlock()
	if errors.Is(err, sql.ErrNoRows) {
		var h LeaseHolder
		var hexp string
		if err := s.db.QueryRowContext(ctx, `SELECT owner, expires_at FROM leases WHERE account_id = ?`, account).Scan(&h.Owner, &hexp); err != nil {
			return nil, fmt.Errorf("read lease of %s: %w", account, err)
		}
		h.ExpiresAt, _ = time.Parse(time.RFC3339Nano, hexp)
		if !deadHolder(h.Owner) {
			return nil, &LeaseHeldError{Account: account, Holder: h}
		}
		// Taken from that owner only: had it moved on meanwhile, the
		// update matches nothing and the lease is held after all.
		s.writeMu.Lock()
		err = s.retryBusy(ctx, func() error {
			return s.db.QueryRowContext(ctx, `UPDATE leases SET owner = ?, generation = generation + 1, acquired_at = ?, expires_at = ?
				WHERE account_id = ? AND owner = ? RETURNING owner, generation, expires_at`,
				owner, s.tsMilli(now), s.tsMilli(exp), account, h.Owner).Scan(&l.Owner, &l.Generation, &expires)
		})
		s.writeMu.Unlock()
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &LeaseHeldError{Account: account, Holder: h}
		}
		l.TakenFrom = h.Owner
	}
	if err != nil {
		return nil, s.explainWrite(fmt.Errorf("take lease of %s: %w", account, err))
	}
	l.Account = account
	l.ExpiresAt, _ = time.Parse(time.RFC3339Nano, expires)
	s.mu.Lock()
	s.leases[account] = &l
	s.mu.Unlock()
	// This process is now the only writer of the account: whatever a
	// previous holder left half done is closed. Looked for first, so that
	// the usual pass pays a read, not two writes.
	var running, staged bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sync_runs WHERE account_id = ? AND status = 'running')`, account).Scan(&running); err != nil {
		return nil, fmt.Errorf("take lease of %s: %w", account, err)
	}
	if running {
		err = s.commitBatch(ctx, &l, []stmt{
			{`UPDATE sync_runs SET status = 'aborted', finished_at = ?, error = 'the process running this pass stopped before it finished'
				WHERE account_id = ? AND status = 'running'`, []any{s.ts(now), account}},
		})
		if err != nil {
			return nil, s.explainWrite(fmt.Errorf("take lease of %s: close aborted runs: %w", account, err))
		}
	}
	exists := make([]string, len(stageTables))
	for i, t := range stageTables {
		exists[i] = `EXISTS (SELECT 1 FROM ` + t + ` WHERE account_id = ?1)`
	}
	if err := s.db.QueryRowContext(ctx, `SELECT `+strings.Join(exists, " OR "), account).Scan(&staged); err != nil {
		return nil, fmt.Errorf("take lease of %s: %w", account, err)
	}
	if staged {
		if err := s.clearStage(ctx, account); err != nil {
			return nil, fmt.Errorf("take lease of %s: %w", account, err)
		}
	}
	return &l, nil
}

// RenewLease extends a held lease by ttl. It fails with ErrLeaseLost once
// another process took the lease (a new generation). A lease that expired
// while nobody took it (its holder's own long commit kept the write lock)
// is renewed: no other process wrote the account meanwhile.
func (s *Store) RenewLease(ctx context.Context, l *Lease, ttl time.Duration) error {
	now := s.now()
	exp := now.Add(ttl)
	var n int64
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.retryBusy(ctx, func() error {
		res, err := s.db.ExecContext(ctx, `UPDATE leases SET expires_at = ? WHERE account_id = ? AND owner = ? AND generation = ?`,
			s.tsMilli(exp), l.Account, l.Owner, l.Generation)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("renew lease of %s: %w", l.Account, err)
	}
	if n == 0 {
		return fmt.Errorf("renew lease of %s: %w", l.Account, ErrLeaseLost)
	}
	l.ExpiresAt = exp
	return nil
}

// ReleaseLease ends a held lease at once, keeping its generation so that
// the next holder's is higher.
func (s *Store) ReleaseLease(ctx context.Context, l *Lease) error {
	s.mu.Lock()
	if s.leases[l.Account] == l {
		delete(s.leases, l.Account)
	}
	s.mu.Unlock()
	if err := s.exec(ctx, nil, `UPDATE leases SET expires_at = ? WHERE account_id = ? AND owner = ? AND generation = ?`,
		s.tsMilli(s.now()), l.Account, l.Owner, l.Generation); err != nil {
		return fmt.Errorf("release lease of %s: %w", l.Account, err)
	}
	return nil
}

// LeaseInfo is one row of leases.
type LeaseInfo struct {
	Account, Owner string
	Generation     int64
	AcquiredAt     time.Time
	ExpiresAt      time.Time
}

// Leases lists every lease, live or expired.
func (s *Store) Leases(ctx context.Context) ([]LeaseInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT account_id, owner, generation, acquired_at, expires_at FROM leases ORDER BY account_id`)
	if err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	defer rows.Close()
	var out []LeaseInfo
	for rows.Next() {
		var li LeaseInfo
		var acq, exp string
		if err := rows.Scan(&li.Account, &li.Owner, &li.Generation, &acq, &exp); err != nil {
			return nil, fmt.Errorf("read leases: %w", err)
		}
		li.AcquiredAt, _ = time.Parse(time.RFC3339Nano, acq)
		li.ExpiresAt, _ = time.Parse(time.RFC3339Nano, exp)
		out = append(out, li)
	}
	return out, rows.Err()
}

// fenceStmt is the first statement of every commit under this lease: it
// fails the CHECK named lease_lost unless the lease is still this
// process's generation. A process paused past its lease commits nothing
// once another took the lease; the generation, not the clock, decides, so
// clock skew between hosts cannot let two writers in.
func (l *Lease) fenceStmt() stmt {
	return stmt{`INSERT INTO lease_fence (account_id, held) VALUES (?, (SELECT count(*) FROM leases WHERE account_id = ? AND owner = ? AND generation = ?))
		ON CONFLICT (account_id) DO UPDATE SET held = excluded.held`, []any{l.Account, l.Account, l.Owner, l.Generation}}
}

// tsMilli is a lease time: RFC 3339 with milliseconds, fixed width so that
// text order is time order.
func (s *Store) tsMilli(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// stageTables are the tables a pass stages rows in before its commit.
// Every data table has one (ensureStageTables).
var stageTables = func() []string {
	var out []string
	for _, t := range schema.DataTables {
		out = append(out, "stage_"+t.Name)
	}
	return append(out, "stage_change_events", "stage_keys")
}()

// clearStage removes every stage row of an account: the leftovers of a
// pass that died between staging and commit.
func (s *Store) clearStage(ctx context.Context, account string) error {
	for _, t := range stageTables {
		if err := s.exec(ctx, nil, `DELETE FROM `+t+` WHERE account_id = ?`, account); err != nil {
			return fmt.Errorf("clear %s: %w", t, err)
		}
	}
	return nil
}
