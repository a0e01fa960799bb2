package storage

import (
	"errors"
	"fmt"
	"strings"
)

// errMirrorFull marks a write the mirror's file system refused for space.
var errMirrorFull = errors.New("the mirror file could not grow: disk full or a file-size limit (RLIMIT_FSIZE, a quota)")

// errTxnTimeout marks a commit a libSQL server rolled back for its age.
var errTxnTimeout = errors.New("the mirror server rolled back the org's transaction: it ran longer than the server's transaction timeout " +
	"(sqld: 5 s, a namespace's txn_timeout_s) while another writer waited; nothing of the org was written. " +
	"Raise txn_timeout_s for orgs this large (docs/deploy.md, Scale-out)")

// errMirrorReadOnly marks a write a libSQL server refused for permission.
var errMirrorReadOnly = errors.New("the mirror refused the write (HTTP 403): its token (mirror.auth_token_env) is read-only or for another database")

// errMirrorAuth marks a request a libSQL server refused for its token.
var errMirrorAuth = errors.New("the mirror refused the token (HTTP 401): check mirror.auth_token_env")

// WriteHealth is nil, or why the last write failed in a way that fails
// every write until someone acts (read-only, refused token, disk full); a
// write that succeeds clears it. The daemon's /readyz reports it.
func (s *Store) WriteHealth() error {
	if p := s.unwritable.Load(); p != nil {
		return *p
	}
	return nil
}

// wrote clears WriteHealth after a write went through.
func (s *Store) wrote() { s.unwritable.Store(nil) }

// explainWrite adds the likely cause to a SQLite write error whose own text
// does not name it; every write of a pass (its run, account, orgs, users)
// returns through it.
// SQLite reports a full disk as SQLITE_FULL (13), or as
// SQLITE_IOERR_WRITE (778) when the write fails with EFBIG or ENOSPC.
func (s *Store) explainWrite(err error) error {
	err = s.explain(err)
	if errors.Is(err, errMirrorReadOnly) || errors.Is(err, errMirrorAuth) || errors.Is(err, errMirrorFull) || errors.Is(err, errMirrorFile) {
		s.unwritable.Store(&err)
	}
	return err
}

// errMirrorFile marks a write the mirror file's permissions or mount refused.
var errMirrorFile = errors.New("the mirror file cannot be written by this process")

func (s *Store) explain(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "readonly database") || strings.Contains(msg, "unable to open database file") {
		where := "the mirror"
		if s.path != "" {
			where = "the mirror file " + s.path
		}
		return fmt.Errorf("%w: %w (%s): check the owner and permissions of the file, "+
			"its -wal and -shm files and its directory, and that the file system is not mounted read-only", err, errMirrorFile, where)
	}
	if strings.Contains(msg, "Transaction timed out") {
		return fmt.Errorf("%w: %w", err, errTxnTimeout)
	}
	if strings.Contains(msg, "error code 403") {
		return fmt.Errorf("%w: %w", err, errMirrorReadOnly)
	}
	if strings.Contains(msg, "error code 401") {
		return fmt.Errorf("%w: %w", err, errMirrorAuth)
	}
	if strings.Contains(msg, "database or disk is full") || strings.Contains(msg, "disk I/O error") {
		return fmt.Errorf("%w: %w", err, errMirrorFull)
	}
	return err
}
