package storage_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/storage"
)

func TestMigrateAndRefuseNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	st, err := storage.Open(ctx, "file:"+path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := st.MigrationStatus(ctx)
	if err != nil || len(ms) == 0 || !ms[0].Applied {
		t.Fatalf("status %+v %v", ms, err)
	}
	// A newer tursync migrated this mirror: this binary must not write it.
	if _, err := st.DB().Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, 1)`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err = storage.Open(ctx, "file:"+path, storage.Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 99999 is newer") {
		t.Fatalf("open of a newer schema: %v", err)
	}
}

func TestOpenErrorsNameTheCause(t *testing.T) {
	ctx := context.Background()
	cases := map[string]string{
		"ftp://x": "unsupported url scheme",
		"file:" + t.TempDir() + "/no/such/dir/m.db": "no such file or directory",
		"not a url": "want file:PATH",
	}
	for url, want := range cases {
		_, err := storage.Open(ctx, url, storage.Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", url, err, want)
		}
	}
}

// A reader's new connection to a mirror file does not wait for the writer:
// opening one used to set auto_vacuum, a write transaction, so it queued
// behind a pass's commit and failed once mirror.busy_timeout ran out. The
// reader here has 1 ms to wait while another process holds the write
// lock; a new file still gets incremental auto-vacuum, set once.
func TestReadersConnectWhileAnotherProcessWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	w, err := storage.Open(ctx, "file:"+path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var av int
	if err := w.DB().QueryRow(`PRAGMA auto_vacuum`).Scan(&av); err != nil || av != 2 {
		t.Fatalf("a new mirror file's auto_vacuum is %d (%v), want 2 (incremental)", av, err)
	}
	tx, err := w.DB().BeginTx(ctx, nil) // IMMEDIATE: the write lock, held
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`DELETE FROM sync_runs`); err != nil {
		t.Fatal(err)
	}
	r, err := storage.Open(ctx, "file:"+path, storage.Options{NoMigrate: true, BusyTimeout: time.Millisecond})
	if err != nil {
		t.Fatalf("open beside a writer: %v", err)
	}
	defer r.Close()
	// Three connections at once: each of them new.
	var conns []*sql.Conn
	for i := range 3 {
		c, err := r.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var n int
		if err := c.QueryRowContext(ctx, `SELECT count(*) FROM sync_runs`).Scan(&n); err != nil {
			t.Fatalf("reader connection %d while another process writes: %v", i, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}
