package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// ErrMirrorGone marks a mirror that is no longer the one this process
// opened: its file deleted, moved or replaced, or a server database whose
// identity row changed. Every write fails with it until the mirror is back
// (or the process restarts and opens the new one).
var ErrMirrorGone = errors.New("the mirror is not the one this process opened")

// identity is what a Store remembers of the mirror it opened.
type identity struct {
	file os.FileInfo // a file: mirror's device and inode, as os.SameFile compares them
	id   string      // a server mirror's mirror_identity row
	// lost is why the mirror is not the one opened, nil while it is.
	lost atomic.Pointer[error]
}

// recordIdentity notes the opened mirror's identity, after Migrate wrote
// the identity row.
func (s *Store) recordIdentity(ctx context.Context) error {
	if !s.remote {
		if s.path == "" || s.path == ":memory:" {
			return nil
		}
		fi, err := os.Stat(s.path)
		if err != nil {
			return fmt.Errorf("open mirror %s: %w", s.path, err)
		}
		s.ident.file = fi
		return nil
	}
	id, err := s.identityRow(ctx)
	if err != nil {
		return fmt.Errorf("open mirror: read its identity: %w", err)
	}
	s.ident.id = id
	return nil
}

func (s *Store) identityRow(ctx context.Context) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM mirror_identity LIMIT 1`).Scan(&id)
	return id, err
}

// CheckIdentity reports whether the mirror is still the one opened: a
// file: mirror's path still names the same file (device and inode), a
// server mirror still has the same identity row. The daemon calls it
// before every pass and from /readyz. A mismatch also stops every write
// (writeGuard) until a later check finds the mirror back.
func (s *Store) CheckIdentity(ctx context.Context) error {
	var err error
	switch {
	case s.ident.file != nil:
		err = s.fileIdentity()
	case s.ident.id != "":
		id, rerr := s.identityRow(ctx)
		gone := errors.Is(rerr, sql.ErrNoRows) || rerr != nil && strings.Contains(rerr.Error(), "no such table")
		if rerr != nil && !gone {
			return fmt.Errorf("read the mirror's identity: %w", s.explain(rerr))
		}
		if gone || id != s.ident.id {
			err = fmt.Errorf("%w: the mirror database's identity changed (opened as %s, now %q): it was replaced or recreated; "+
				"nothing more is written to it until tursync is restarted on it", ErrMirrorGone, s.ident.id, id)
		}
	}
	if err != nil {
		s.ident.lost.Store(&err)
		return err
	}
	s.ident.lost.Store(nil)
	return nil
}

// fileIdentity compares the mirror file's path with the file opened.
func (s *Store) fileIdentity() error {
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: the mirror file %s is gone (deleted or moved while tursync ran); writes would go to a deleted file and be lost: "+
			"put it back, or restart tursync to create a new mirror there", ErrMirrorGone, s.path)
	case err != nil:
		return fmt.Errorf("%w: the mirror file %s cannot be checked: %w", ErrMirrorGone, s.path, err)
	case !os.SameFile(fi, s.ident.file):
		return fmt.Errorf("%w: the mirror file %s was replaced by another file while tursync ran; "+
			"restart tursync to use the new file (this process keeps writing nothing)", ErrMirrorGone, s.path)
	}
	return nil
}

// writeGuard fails a write while the mirror is not the one opened: a file:
// mirror is checked on every write (one stat), so nothing goes into a
// deleted inode between two passes; a server mirror's last check stands.
func (s *Store) writeGuard() error {
	if s.ident.file != nil {
		if err := s.fileIdentity(); err != nil {
			s.ident.lost.Store(&err)
			return err
		}
		s.ident.lost.Store(nil)
		return nil
	}
	if p := s.ident.lost.Load(); p != nil {
		return *p
	}
	return nil
}
