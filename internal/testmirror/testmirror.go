// Package testmirror opens a mirror for a test on either backend: a file
// in the test's temporary directory, or, with TURSYNC_TEST_MIRROR=sqld, a
// real libSQL server started for the test (internal/sqldtest). Every
// package whose tests open a mirror goes through it, so `.ci/run`'s sqld
// re-run covers them all.
package testmirror

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/storage"
)

// Env set to sqld runs the tests against a real libSQL server instead of a
// mirror file.
const Env = "TURSYNC_TEST_MIRROR"

// OnSqld reports whether the tests run against sqld.
func OnSqld() bool { return os.Getenv(Env) == "sqld" }

// FileOnly skips a test that works on the mirror file itself (its locks,
// its inode, its permissions) when the tests run against sqld.
func FileOnly(t testing.TB) {
	t.Helper()
	if OnSqld() {
		t.Skip("works on the mirror file itself; sqld variants are in the storage and cmd tests")
	}
}

// Mirror is an opened test mirror.
type Mirror struct {
	*storage.Store
	URL  string // what storage.Open was given
	Path string // the file, or "" on sqld
}

// Open opens a fresh mirror on the backend Env selects, closed when the
// test ends.
func Open(t testing.TB, o storage.Options) Mirror {
	t.Helper()
	if OnSqld() {
		return OpenURL(t, sqldtest.Start(t, sqldtest.Options{}).URL, o)
	}
	return OpenFile(t, o)
}

// OpenFile opens a fresh mirror file, whatever Env says: for the tests
// that compare the backends or need the file.
func OpenFile(t testing.TB, o storage.Options) Mirror {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mirror.db")
	m := OpenURL(t, "file:"+path, o)
	m.Path = path
	return m
}

// OpenURL opens the mirror at url, closed when the test ends.
func OpenURL(t testing.TB, url string, o storage.Options) Mirror {
	t.Helper()
	st, err := storage.Open(context.Background(), url, o)
	if err != nil {
		t.Fatalf("open mirror %s: %v", url, err)
	}
	t.Cleanup(func() { st.Close() })
	return Mirror{Store: st, URL: url}
}
