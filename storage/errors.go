package storage

import (
	"errors"
	"fmt"
	"strings"
)

// errMirrorFull marks a write the mirror's file system refused for space.
var errMirrorFull = errors.New("the mirror file could not grow: disk full or a file-size limit (RLIMIT_FSIZE, a quota)")

// errMirrorReadOnly marks a write a libSQL server refused for permission.
var errMirrorReadOnly = errors.New("the mirror refused the write (HTTP 403): its token (mirror.auth_token_env) is read-only or for another database")

// errMirrorAuth marks a request a libSQL server refused for its token.
var errMirrorAuth = errors.New("the mirror refused the token (HTTP 401): check mirror.auth_token_env")

// explainWrite adds the likely cause to a SQLite write error whose own text
// does not name it; every write of a pass (its run, account, orgs, users)
// returns through it.
// SQLite reports a full disk as SQLITE_FULL (13), or as
// SQLITE_IOERR_WRITE (778) when the write fails with EFBIG or ENOSPC.
func explainWrite(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
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
