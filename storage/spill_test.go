package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tursync/tursync/internal/testproc"
	"github.com/tursync/tursync/schema"
)

// Staged rows come back with the table, keys, values and remote data they
// went in with, value types included (a hash of them decides whether a row
// changed), in memory and once the spill has moved to a file.
func TestSpillRoundTrip(t *testing.T) {
	empty, parent := "", "parent-db"
	rows := []schema.Row{
		schema.Database{OrganizationID: "org1", ID: "db1", Name: "a<b>", Regions: `["aws-us-east-1"]`, BlockReads: true, ParentID: &empty, ParentName: &parent, RemoteData: []byte(`{"Name":"a"}`)},
		schema.Database{OrganizationID: "org1", ID: "db2", Name: "é\u2028"},
		schema.RoleAssignment{OrganizationID: "org1", UserID: "u1", RoleID: "admin", Status: "active", Source: "members"},
		schema.User{ID: "u1", Username: "u1", Email: "u1@example.com", Status: "active", RemoteData: []byte(`{}`)},
	}
	for _, big := range []bool{false, true} {
		sp := newSpill(t.TempDir())
		n := len(rows)
		if big {
			n = 200000 // past spillMemory: the spill moves to a file
		}
		for i := 0; i < n; i++ {
			if err := sp.writeRow(rows[i%len(rows)]); err != nil {
				t.Fatal(err)
			}
		}
		if err := sp.finish(); err != nil {
			t.Fatal(err)
		}
		if big != (sp.f != nil) {
			t.Fatalf("%d rows: in a file = %v", n, sp.f != nil)
		}
		i := 0
		err := spillRows(sp)(func(got schema.Row) error {
			want := rows[i%len(rows)]
			if got.Table() != want.Table() || !reflect.DeepEqual(got.KeyValues(), want.KeyValues()) ||
				!reflect.DeepEqual(got.Values(), want.Values()) || !bytes.Equal(got.Remote(), want.Remote()) {
				return fmt.Errorf("row %d: got %v %v %#v %q, want %v %v %#v %q", i, got.Table().Name, got.KeyValues(), got.Values(), got.Remote(),
					want.Table().Name, want.KeyValues(), want.Values(), want.Remote())
			}
			i++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if i != n {
			t.Fatalf("read %d rows back, want %d", i, n)
		}
		sp.remove()
	}
}

func TestSpillUsageAndStrings(t *testing.T) {
	sp := newSpill(t.TempDir())
	u := schema.Usage{OrganizationID: "org1", Day: "2026-11-29", DatabaseID: "db1", RowsRead: -1, RowsWritten: 1 << 40, StorageBytes: 3, RemoteData: []byte(`{"x":1}`)}
	if err := sp.writeUsage(u); err != nil {
		t.Fatal(err)
	}
	var got []schema.Usage
	if err := spillUsage(sp, func(v schema.Usage) error { got = append(got, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], u) {
		t.Fatalf("usage: got %+v, want %+v", got, u)
	}
	ks := newSpill(t.TempDir())
	for _, k := range []string{"", "db-1", strings.Repeat("x", 300)} {
		if err := ks.writeString(k); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	if err := spillStrings(ks, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0] != "" || keys[1] != "db-1" || len(keys[2]) != 300 {
		t.Fatalf("keys: %q", keys)
	}
}

// A value type rows are not made of is refused, not silently changed; a
// damaged record is an error, not a row.
func TestSpillRefusesWhatItCannotKeep(t *testing.T) {
	sp := newSpill(t.TempDir())
	if err := sp.writeRow(oddRow{}); err == nil || !strings.Contains(err.Error(), "float64") {
		t.Fatalf("a float64 value: %v, want an error naming the type", err)
	}
	if err := sp.writeRow(schema.User{ID: "u1", Username: "u1"}); err != nil {
		t.Fatal(err)
	}
	// The record without its 1-byte length prefix, cut 3 bytes short.
	sp.buf.Truncate(sp.buf.Len() - 3)
	if _, err := decodeRow(sp.buf.Bytes()[1:]); err == nil {
		t.Fatal("a truncated row decoded")
	}
}

type oddRow struct{}

func (oddRow) Table() *schema.Table { return schema.Users }
func (oddRow) KeyValues() []string  { return []string{"x"} }
func (oddRow) Values() []any        { return []any{1.5} }
func (oddRow) Remote() []byte       { return nil }

// A spill file whose process ended is collected; this process's and a
// running process's are kept, as is anything not a spill file. A spill
// goes into a directory of this user's with mode 0700 and its name
// carries the pid; a directory others can read is refused.
func TestCollectSpills(t *testing.T) {
	dir := SpillDir(t.TempDir())
	sp := newSpill(dir)
	for i := 0; sp.f == nil; i++ {
		if err := sp.writeString(strings.Repeat("x", 1<<16)); err != nil {
			t.Fatal(err)
		}
	}
	defer sp.remove()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spill directory: %v %v, want mode 0700", fi, err)
	}
	own := filepath.Base(sp.f.Name())
	if !strings.HasPrefix(own, fmt.Sprintf("tursync-spill-%d-", os.Getpid())) {
		t.Fatalf("spill file %s does not carry the pid", own)
	}
	ended, running := testproc.Pids(t)
	dead := fmt.Sprintf("tursync-spill-%d-123", ended)
	alive := fmt.Sprintf("tursync-spill-%d-456", running)
	for _, name := range []string{dead, alive, "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("api data"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, size, err := CollectSpills(dir)
	if err != nil || files != 1 || size != 8 {
		t.Fatalf("collected %d files, %d bytes, %v; want the ended process's one file of 8 bytes", files, size, err)
	}
	for name, want := range map[string]bool{dead: false, alive: true, own: true, "notes.txt": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: exists = %v, want %v", name, err == nil, want)
		}
	}

	open := SpillDir(t.TempDir())
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o755)
	sp2 := newSpill(open)
	var werr error
	for i := 0; i < 100 && werr == nil; i++ {
		werr = sp2.writeString(strings.Repeat("x", 1<<16))
	}
	if werr == nil || !strings.Contains(werr.Error(), "mode 0700") {
		t.Fatalf("a spill into a directory others can read: %v, want a refusal", werr)
	}
}
