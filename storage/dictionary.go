package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tursync/tursync/schema"
)

// dictRow is one row of mirror_tables or mirror_columns, as stored.
type dictRow []any

// dictionaryRows are the rows schema.Dictionary gives mirror_tables and
// mirror_columns, each sorted by key.
func dictionaryRows() (tables, columns []dictRow) {
	for _, d := range schema.Dictionary {
		tables = append(tables, dictRow{d.Name, d.Kind, boolInt(d.Internal), d.Description, d.Source})
		if d.Internal {
			continue
		}
		for i, c := range d.Columns {
			columns = append(columns, dictRow{d.Name, c.Name, int64(i + 1), c.Type, c.Description, c.Source, enumJSON(c.Values)})
		}
	}
	// In the order the mirror reads them back: by key, byte-wise.
	byKey := func(n int) func(a, b dictRow) int {
		return func(a, b dictRow) int {
			for i := range n {
				if c := strings.Compare(a[i].(string), b[i].(string)); c != 0 {
					return c
				}
			}
			return 0
		}
	}
	slices.SortFunc(tables, byKey(1))
	slices.SortFunc(columns, byKey(2))
	return tables, columns
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// enumJSON is an enumeration's values as a JSON object, in the
// dictionary's order, or nil for a column that is not one.
func enumJSON(vs []schema.Value) any {
	if len(vs) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(v.Value)
		m, _ := json.Marshal(v.Meaning)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m)
	}
	b.WriteByte('}')
	return b.String()
}

// ensureDictionary makes mirror_tables and mirror_columns say what this
// binary's schema.Dictionary says. It only reads when they already do, so
// a mirror opened with a read-only token, and current, is not written.
func (s *Store) ensureDictionary(ctx context.Context) error {
	tables, columns := dictionaryRows()
	haveTables, err := s.dictRows(ctx, `SELECT table_name, kind, internal, description, source FROM mirror_tables ORDER BY table_name`, 5)
	if err != nil {
		return err
	}
	haveColumns, err := s.dictRows(ctx, `SELECT table_name, column_name, position, type, description, source, enum_values FROM mirror_columns ORDER BY table_name, column_name`, 7)
	if err != nil {
		return err
	}
	if sameRows(haveTables, tables) && sameRows(haveColumns, columns) {
		return nil
	}
	stmts := []stmt{{`DELETE FROM mirror_tables`, nil}, {`DELETE FROM mirror_columns`, nil}}
	stmts = append(stmts, insertRows(`mirror_tables (table_name, kind, internal, description, source)`, tables)...)
	stmts = append(stmts, insertRows(`mirror_columns (table_name, column_name, position, type, description, source, enum_values)`, columns)...)
	if err := s.commitBatch(ctx, nil, stmts); err != nil {
		return s.explainWrite(fmt.Errorf("write the data dictionary: %w", err))
	}
	return nil
}

// dictRows reads rows of n columns, NULL as nil and integers as int64.
func (s *Store) dictRows(ctx context.Context, q string, n int) ([]dictRow, error) {
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read the data dictionary: %w", err)
	}
	defer rows.Close()
	var out []dictRow
	for rows.Next() {
		vals := make([]sql.NullString, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read the data dictionary: %w", err)
		}
		r := make(dictRow, n)
		for i, v := range vals {
			if v.Valid {
				r[i] = v.String
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// sameRows compares rows as text: what was read back is text whatever
// its type.
func sameRows(have, want []dictRow) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		for j := range want[i] {
			w := want[i][j]
			if w != nil {
				w = fmt.Sprint(w)
			}
			if have[i][j] != w {
				return false
			}
		}
	}
	return true
}
