package storage_test

import (
	"testing"

	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// mirror_columns covers every column of every table and view that is not
// internal, in the mirror's own order and with its declared type, and
// mirror_tables lists every table and view: the dictionary cannot drift
// from the migrations.
func TestDataDictionaryCoversTheMirror(t *testing.T) {
	m := testmirror.OpenFile(t, storage.Options{})
	db := m.DB()
	objects, err := db.Query(`SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	type object struct{ name, kind string }
	var all []object
	for objects.Next() {
		var o object
		if err := objects.Scan(&o.name, &o.kind); err != nil {
			t.Fatal(err)
		}
		all = append(all, o)
	}
	objects.Close()
	if len(all) < 40 {
		t.Fatalf("only %d tables and views", len(all))
	}
	for _, o := range all {
		var kind string
		var internal bool
		if err := db.QueryRow(`SELECT kind, internal FROM mirror_tables WHERE table_name = ?`, o.name).Scan(&kind, &internal); err != nil {
			t.Errorf("%s %s: not in mirror_tables (%v): describe it in schema.Dictionary", o.kind, o.name, err)
			continue
		}
		if kind != o.kind {
			t.Errorf("%s: mirror_tables says %s, the mirror has a %s", o.name, kind, o.kind)
		}
		if internal {
			continue
		}
		have, err := db.Query(`SELECT p.name, p.type, c.column_name, c.type, c.description, c.source
			FROM pragma_table_xinfo(?) p LEFT JOIN mirror_columns c ON c.table_name = ? AND c.position = p.cid + 1 ORDER BY p.cid`, o.name, o.name)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for have.Next() {
			n++
			var name, typ string
			var dname, dtype, desc, source *string
			if err := have.Scan(&name, &typ, &dname, &dtype, &desc, &source); err != nil {
				t.Fatal(err)
			}
			switch {
			case dname == nil || *dname != name:
				t.Errorf("%s column %d is %s; mirror_columns has %v there", o.name, n, name, dname)
			case o.kind == "table" && *dtype != typ: // a view's types are its expressions'
				t.Errorf("%s.%s is %s; mirror_columns says %s", o.name, name, typ, *dtype)
			case *desc == "" || *source == "":
				t.Errorf("%s.%s has no description or source", o.name, name)
			}
		}
		have.Close()
		var described int
		if err := db.QueryRow(`SELECT count(*) FROM mirror_columns WHERE table_name = ?`, o.name).Scan(&described); err != nil || described != n {
			t.Errorf("%s has %d columns; mirror_columns describes %d (%v)", o.name, n, described, err)
		}
	}
	for _, d := range schema.Dictionary {
		if d.Name == "sqlite_sequence" {
			continue // SQLite makes it with the first AUTOINCREMENT row
		}
		found := false
		for _, o := range all {
			found = found || o.name == d.Name
		}
		if !found {
			t.Errorf("schema.Dictionary describes %s, which the mirror does not have", d.Name)
		}
	}
}

// A dictionary row changed in the mirror is put back when it opens again.
func TestDataDictionaryIsRewrittenWhenItDiffers(t *testing.T) {
	m := testmirror.Open(t, storage.Options{})
	if _, err := m.DB().Exec(`UPDATE mirror_columns SET description = 'stale' WHERE table_name = 'users' AND column_name = 'status'`); err != nil {
		t.Fatal(err)
	}
	m.Close()
	st := testmirror.OpenURL(t, m.URL, storage.Options{})
	var desc string
	if err := st.DB().QueryRow(`SELECT description FROM mirror_columns WHERE table_name = 'users' AND column_name = 'status'`).Scan(&desc); err != nil {
		t.Fatal(err)
	}
	if desc == "stale" || desc == "" {
		t.Errorf("users.status is described %q after reopening, want the dictionary's", desc)
	}
}
