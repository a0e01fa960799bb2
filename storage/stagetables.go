package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/tursync/tursync/schema"
)

// The columns of the stage tables of the two tables whose rows are not
// entities: audit events are appended, usage counters overwritten.
var (
	auditStageCols = []string{"account_id", "organization_id", "id", "code", "message", "origin", "author", "created_at", "data", "remote_data",
		"first_seen_at", "stage_id"}
	usageStageCols = []string{"account_id", "organization_id", "day", "database_id", "rows_read", "rows_written", "storage_bytes", "bytes_synced",
		"observed_at", "remote_data", "stage_id", "stage_op"}
)

// stageColumns are the columns a pass writes to t's stage table.
func stageColumns(t *schema.Table) []string {
	switch t {
	case schema.AuditLogs:
		return auditStageCols
	case schema.UsageDays:
		return usageStageCols
	}
	return stageCols(t)
}

// ensureStageTables gives every data table its stage twin, with the
// columns a pass writes to it, derived from schema.Table: a migration
// creates or alters the table alone, and its twin follows here, after
// every migration. Twins made by the early migrations (00003, 00008)
// only gain the columns they lack. Racing daemons are harmless: a table
// is created IF NOT EXISTS and a column another process just added is
// skipped.
func (s *Store) ensureStageTables(ctx context.Context) error {
	// Only what is missing is written: a mirror opened with a read-only
	// token, and complete, is only read.
	existing, err := s.stageTableColumns(ctx)
	if err != nil {
		return err
	}
	for _, t := range schema.DataTables {
		name := "stage_" + t.Name
		cols := stageColumns(t)
		have, ok := existing[name]
		if !ok {
			if err := s.exec(ctx, nil, `CREATE TABLE IF NOT EXISTS `+name+` ("`+strings.Join(cols, `", "`)+`")`); err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
			if err := s.exec(ctx, nil, `CREATE INDEX IF NOT EXISTS `+name+`_id ON `+name+` (stage_id)`); err != nil {
				return fmt.Errorf("index %s: %w", name, err)
			}
			continue
		}
		for _, c := range cols {
			if have[c] {
				continue
			}
			if err := s.exec(ctx, nil, `ALTER TABLE `+name+` ADD COLUMN "`+c+`"`); err != nil && !raced(err) {
				return fmt.Errorf("add %s.%s: %w", name, c, err)
			}
		}
	}
	return nil
}

// stageTableColumns are the stage tables the mirror has, each with its
// columns, read in one query (pragma_table_info is a table-valued
// function, which a libSQL server allows where it refuses PRAGMA with an
// argument).
func (s *Store) stageTableColumns(ctx context.Context) (map[string]map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name LIKE 'stage!_%' ESCAPE '!'`)
	if err != nil {
		return nil, fmt.Errorf("list stage tables: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			return nil, fmt.Errorf("list stage tables: %w", err)
		}
		if out[table] == nil {
			out[table] = map[string]bool{}
		}
		out[table][col] = true
	}
	return out, rows.Err()
}
