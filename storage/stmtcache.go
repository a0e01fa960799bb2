package storage

import (
	"context"
	"database/sql"
	stdsync "sync"
)

// A large org's staging inserts are hundreds of statements of one text
// (a full stage buffer: the same table, the same number of rows), each of
// 30,000 parameters; compiled anew each time, their parsing alone took
// 1.3 s of a 250,000-database first pass. stmtCache keeps them compiled.
type stmtCache struct {
	mu    stdsync.Mutex
	stmts map[string]*sql.Stmt
}

// stmtCacheSize bounds the statements kept: one full-buffer shape per
// stage table is all the staging of a pass uses.
const stmtCacheSize = 8

// prepared returns q compiled, from the cache or now.
func (c *stmtCache) prepared(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[q]; st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.stmts == nil || len(c.stmts) >= stmtCacheSize {
		c.closeLocked()
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[q] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
}

func (c *stmtCache) closeLocked() {
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}

// execPrepared is exec (one autocommit write, retried while another
// writer holds the lock) of a statement kept compiled (stmtCache).
func (s *Store) execPrepared(ctx context.Context, q string, args ...any) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.retryBusy(ctx, func() error {
		st, err := s.stmts.prepared(ctx, s.db, q)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
		s.wrote()
		return nil
	})
}
