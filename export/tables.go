package export

import (
	"fmt"
	"path"
	"strings"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// How a table reaches the target after its first copy.
type mode int

const (
	// modeEntity: the rows change events name, and the slices of scopes
	// whose first pass wrote rows without events.
	modeEntity mode = iota
	// modeAppend: rows added since, by rowid (audit_logs, row_versions).
	modeAppend
	// modeUsage: the rows of the last exported day and later (the day's
	// counters are overwritten in place through the day).
	modeUsage
	// modeEvents: change_events after the cursor.
	modeEvents
	// modeWhole: a small table copied whole at every run (roles,
	// locations).
	modeWhole
)

// table is a mirror table an export can carry, with its columns (from
// the data dictionary) and the key it is upserted by.
type table struct {
	name    string
	mode    mode
	schema  *schema.Table // entity tables
	columns []column
	key     []string
	// accountWide: no account_id column (locations).
	accountWide bool
}

// Tables are the names of every table an export can carry, in the order
// exports write them.
func Tables() []string {
	out := make([]string, len(exportable))
	for i, t := range exportable {
		out[i] = t.name
	}
	return out
}

var exportable = func() []*table {
	var out []*table
	for _, t := range schema.EntityTables {
		m := modeEntity
		if t == schema.Roles {
			m = modeWhole
		}
		out = append(out, newTable(t.Name, m, t, append([]string{"account_id"}, t.Keys...)))
	}
	out = append(out,
		newTable(schema.AuditLogs.Name, modeAppend, nil, []string{"account_id", "organization_id", "id"}),
		// A version is its row's from the time it began.
		newTable("row_versions", modeAppend, nil, []string{"account_id", "entity", "organization_id", "row_id", "valid_from"}),
		newTable(schema.UsageDays.Name, modeUsage, nil, []string{"account_id", "organization_id", "day", "database_id"}),
		newTable("change_events", modeEvents, nil, []string{"id"}),
		newTable("locations", modeWhole, nil, []string{"code"}))
	return out
}()

func newTable(name string, m mode, t *schema.Table, key []string) *table {
	d := schema.DocOf(name)
	if d == nil {
		panic("export: no data dictionary entry for " + name)
	}
	cols := make([]column, len(d.Columns))
	accountWide := true
	for i, c := range d.Columns {
		cols[i] = columnOf(c)
		accountWide = accountWide && c.Name != "account_id"
	}
	return &table{name: name, mode: m, schema: t, columns: cols, key: key, accountWide: accountWide}
}

// lastRowid is how far an append-only table's rows go in c (their rowid).
func (t *table) lastRowid(c storage.ExportCursor) int64 {
	if t.name == "row_versions" {
		return c.Versions
	}
	return c.Audit
}

func (t *table) columnNames() []string {
	out := make([]string, len(t.columns))
	for i, c := range t.columns {
		out[i] = c.name
	}
	return out
}

// selectTables returns the exportable tables the globs match, every one
// when there are none; a glob that matches nothing is an error naming the
// tables there are.
func selectTables(globs []string) ([]*table, error) {
	if len(globs) == 0 {
		return exportable, nil
	}
	var out []*table
	for _, g := range globs {
		matched := false
		for _, t := range exportable {
			if ok, err := path.Match(g, t.name); err != nil {
				return nil, fmt.Errorf("tables: %q is not a glob: %w", g, err)
			} else if ok {
				matched = true
			}
		}
		if !matched {
			return nil, fmt.Errorf("tables: %q matches no table an export carries (%s)", g, strings.Join(Tables(), ", "))
		}
	}
	for _, t := range exportable {
		for _, g := range globs {
			if ok, _ := path.Match(g, t.name); ok {
				out = append(out, t)
				break
			}
		}
	}
	return out, nil
}
