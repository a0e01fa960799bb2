package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/storage"
)

// A mirror file deleted, moved or replaced under an open store fails the
// identity check and every write, naming the file, so nothing goes into a
// deleted inode; the file put back makes both work again.
func TestMirrorFileGoneOrReplaced(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.db")
	st, err := storage.Open(ctx, "file:"+path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CheckIdentity(ctx); err != nil {
		t.Fatalf("fresh mirror: %v", err)
	}
	aside := filepath.Join(dir, "aside.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(path+suffix, aside+suffix); err != nil && suffix == "" {
			t.Fatal(err)
		}
	}
	gone := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrMirrorGone) || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s with the file moved away: %v, want ErrMirrorGone naming %s", what, err, path)
		}
	}
	gone("CheckIdentity", st.CheckIdentity(ctx))
	_, err = st.BeginPass(ctx, "acme", storage.PassOptions{Trigger: "manual", StartedAt: time.Now()})
	gone("BeginPass", err)
	_, err = st.AcquireLease(ctx, "acme", "me", time.Minute)
	gone("AcquireLease", err)

	// Another file at the path: replaced, still refused.
	other, err := storage.Open(ctx, "file:"+path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	err = st.CheckIdentity(ctx)
	gone("CheckIdentity", err)
	if !strings.Contains(err.Error(), "replaced") {
		t.Errorf("a replaced file: %v, want it said replaced", err)
	}
	_, err = st.BeginPass(ctx, "acme", storage.PassOptions{Trigger: "manual", StartedAt: time.Now()})
	gone("BeginPass", err)

	// The original put back: the same inode, writes go through again.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
		if err := os.Rename(aside+suffix, path+suffix); err != nil && suffix == "" {
			t.Fatal(err)
		}
	}
	if err := st.CheckIdentity(ctx); err != nil {
		t.Fatalf("the file put back: %v", err)
	}
	if _, err := st.BeginPass(ctx, "acme", storage.PassOptions{Trigger: "manual", StartedAt: time.Now()}); err != nil {
		t.Fatalf("BeginPass with the file back: %v", err)
	}
}

// A server mirror whose identity row changed (a database recreated or
// restored behind the same URL) fails the check and then every write.
func TestServerMirrorReplaced(t *testing.T) {
	open := backends(t)["sqld"]
	st := open(t, time.Now)
	ctx := context.Background()
	if err := st.CheckIdentity(ctx); err != nil {
		t.Fatalf("fresh mirror: %v", err)
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE mirror_identity SET id = 'another'`); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckIdentity(ctx); !errors.Is(err, storage.ErrMirrorGone) {
		t.Fatalf("identity changed: %v, want ErrMirrorGone", err)
	}
	if _, err := st.AcquireLease(ctx, "acme", "me", time.Minute); !errors.Is(err, storage.ErrMirrorGone) {
		t.Fatalf("a write after the check: %v, want ErrMirrorGone", err)
	}
}

// A mirror file its directory will not let be created (a read-only
// directory or mount: sysfs refuses new files even to root, where a
// chmod would not) gets the hint a read-only mirror file gets.
func TestMirrorDirectoryRefusesTheFile(t *testing.T) {
	path := "/sys/tursync-test-mirror.db"
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
		os.Remove(path)
		t.Skip("/sys takes new files on this machine")
	} else if !errors.Is(err, os.ErrPermission) {
		t.Skipf("/sys refuses new files with %v, not a permission error", err)
	}
	_, err := storage.Open(context.Background(), "file:"+path, storage.Options{})
	if err == nil || !strings.Contains(err.Error(), "check the owner and permissions of its directory /sys") ||
		!strings.Contains(err.Error(), "mounted read-only") || !strings.Contains(err.Error(), path) {
		t.Fatalf("open in a directory that refuses the file: %v, want the hint naming the file and its directory", err)
	}
}
