package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// stmt is one statement of a commit batch.
type stmt struct {
	q    string
	args []any
}

// commitBatch runs stmts in one write transaction that takes the write lock
// at its start and does no read the client waits on: on a remote mirror the
// whole transaction is one request (BEGIN IMMEDIATE ... COMMIT as one Hrana
// batch, which the server rolls back if any step fails), so the lock is held
// only while the server works; on a file: mirror it is a local transaction.
// The fence, when set, is the first statement: the commit fails unless the
// account's lease is still this process's.
func (s *Store) commitBatch(ctx context.Context, fence *Lease, stmts []stmt) error {
	// While a commit runs, this process's other writes (staging of other
	// accounts, lease renewals) wait here rather than on the server: a
	// libSQL server rolls back a transaction older than its timeout as
	// soon as another writer waits for the lock.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.commitLocked(ctx, fence, stmts)
}

// commitLocked is commitBatch for a caller that holds writeMu.
func (s *Store) commitLocked(ctx context.Context, fence *Lease, stmts []stmt) error {
	if fence != nil {
		stmts = append([]stmt{fence.fenceStmt()}, stmts...)
	}
	if len(stmts) == 0 {
		return nil
	}
	err := s.retryBusy(ctx, func() error {
		if s.remote {
			return s.commitRemote(ctx, stmts)
		}
		return s.commitLocal(ctx, stmts)
	})
	if err != nil && strings.Contains(err.Error(), "lease_lost") {
		return fmt.Errorf("%w: %w", ErrLeaseLost, err)
	}
	if err == nil {
		s.wrote()
	}
	return err
}

func (s *Store) commitRemote(ctx context.Context, stmts []stmt) error {
	var q strings.Builder
	var args []any
	q.WriteString("BEGIN IMMEDIATE")
	for _, st := range stmts {
		q.WriteString(";\n")
		q.WriteString(st.q)
		args = append(args, st.args...)
	}
	q.WriteString(";\nCOMMIT")
	_, err := s.db.ExecContext(ctx, q.String(), args...)
	return err
}

func (s *Store) commitLocal(ctx context.Context, stmts []stmt) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// exec runs one autocommit write, retried while another writer holds the
// lock; done, when set, sees its result.
func (s *Store) exec(ctx context.Context, done func(sql.Result), q string, args ...any) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.retryBusy(ctx, func() error {
		res, err := s.db.ExecContext(ctx, q, args...)
		if err == nil {
			s.wrote()
			if done != nil {
				done(res)
			}
		}
		return err
	})
}

// queryWrite runs one autocommit write that returns a row (RETURNING),
// retried while another writer holds the lock; scan reads the row.
func (s *Store) queryWrite(ctx context.Context, scan func(*sql.Row) error, q string, args ...any) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.retryBusy(ctx, func() error {
		if err := scan(s.db.QueryRowContext(ctx, q, args...)); err != nil {
			return err
		}
		s.wrote()
		return nil
	})
}

// retryBusy retries fn while the mirror answers "database is locked" or
// SQLITE_BUSY, with backoff, for up to the store's busy timeout. A file:
// mirror waits inside SQLite (busy_timeout); a libSQL server answers at
// once, so the wait happens here.
func (s *Store) retryBusy(ctx context.Context, fn func() error) error {
	if err := s.writeGuard(); err != nil {
		return err
	}
	deadline := time.Now().Add(s.busyTimeout)
	wait := 20 * time.Millisecond
	for {
		err := fn()
		if err == nil || !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Second)
	}
}

func isBusy(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY") ||
		strings.Contains(msg, "database table is locked")
}

// newStageID names the stage rows of one commit.
func newStageID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// insertRows are multi-row INSERTs of rows into table (its name and
// column list), each under SQLite's bound-parameter limit.
func insertRows[R ~[]any](table string, rows []R) []stmt {
	return insertRowsAs(`INSERT INTO `+table, rows)
}

// insertRowsAs is insertRows with the statement's start given whole
// (INSERT OR IGNORE INTO table (columns)).
func insertRowsAs[R ~[]any](insert string, rows []R) []stmt {
	if len(rows) == 0 {
		return nil
	}
	per := max(1, stageMaxParams/len(rows[0]))
	tuple := "(" + placeholders(len(rows[0])) + ")"
	var out []stmt
	for start := 0; start < len(rows); start += per {
		batch := rows[start:min(start+per, len(rows))]
		args := make([]any, 0, len(rows[0])*len(batch))
		for _, r := range batch {
			args = append(args, r...)
		}
		out = append(out, stmt{insert + ` VALUES ` + tuple + strings.Repeat(", "+tuple, len(batch)-1), args})
	}
	return out
}
