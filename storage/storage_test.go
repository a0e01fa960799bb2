package storage_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

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
