package schema_test

import (
	"flag"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/tursync/tursync/schema"
)

var update = flag.Bool("update", false, "rewrite docs/tables.md from schema.Dictionary")

// docs/tables.md is schema.Dictionary rendered: it cannot drift from the
// dictionary the mirror and `tursync schema` publish.
func TestTablesDoc(t *testing.T) {
	const path = "../docs/tables.md"
	want := schema.Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is stale: run go test ./schema -run TestTablesDoc -update", path)
	}
}

// Every column of a table that is not internal says what it is, what type
// and where it comes from, and every enumerated value what it means.
func TestDictionaryIsComplete(t *testing.T) {
	for _, table := range schema.DataTables {
		if table.Doc.Name != table.Name {
			t.Errorf("table %s: its Doc describes %q; describe it in its schema.Table", table.Name, table.Doc.Name)
		}
	}
	seen := map[string]bool{}
	for _, d := range schema.Dictionary {
		if seen[d.Name] {
			t.Errorf("%s is described twice", d.Name)
		}
		seen[d.Name] = true
		if d.Description == "" || d.Source == "" || (d.Kind != schema.KindTable && d.Kind != schema.KindView) {
			t.Errorf("%s: description %q, source %q, kind %q", d.Name, d.Description, d.Source, d.Kind)
		}
		if !d.Internal && len(d.Columns) == 0 {
			t.Errorf("%s has no columns described", d.Name)
		}
		cols := map[string]bool{}
		for _, c := range d.Columns {
			if cols[c.Name] {
				t.Errorf("%s.%s is described twice", d.Name, c.Name)
			}
			cols[c.Name] = true
			if c.Description == "" || c.Source == "" || c.Type == "" {
				t.Errorf("%s.%s: description %q, source %q, type %q", d.Name, c.Name, c.Description, c.Source, c.Type)
			}
			for _, v := range c.Values {
				if v.Value == "" || v.Meaning == "" {
					t.Errorf("%s.%s: value %q means %q", d.Name, c.Name, v.Value, v.Meaning)
				}
			}
		}
	}
}

// Migration 00014 creates each history view as schema.HistoryViewSQL
// writes it: the view and the code that documents it cannot drift.
func TestHistoryViewsAreTheMigrations(t *testing.T) {
	raw, err := fs.ReadFile(schema.Migrations(), "00014_history_and_attribution.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range schema.HistoryTables {
		if want := schema.HistoryViewSQL(tb); !strings.Contains(string(raw), want) {
			t.Errorf("migration 00014 lacks %s as HistoryViewSQL writes it:\n%s", schema.HistoryView(tb), want)
		}
	}
}

// Every rule says in words what it matches and what of it is assumed.
func TestAttributionsAreDescribed(t *testing.T) {
	for i, a := range schema.Attributions {
		if a.ObjectDoc == "" || a.Assumed == "" || a.DataField == "" || len(a.Codes) == 0 || len(a.Ops) == 0 || !schema.HasHistory(a.Table) {
			t.Errorf("rule %d (%s %v) is incomplete: %+v", i, a.Table.Name, a.Ops, a)
		}
	}
}
