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
	existing, err := s.stageTableNames(ctx)
	if err != nil {
		return err
	}
	for _, t := range append(append([]*schema.Table(nil), schema.EntityTables...), schema.AppendOnlyTables...) {
		name := "stage_" + t.Name
		cols := stageColumns(t)
		if !existing[name] {
			if err := s.exec(ctx, nil, `CREATE TABLE IF NOT EXISTS `+name+` ("`+strings.Join(cols, `", "`)+`")`); err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
			if err := s.exec(ctx, nil, `CREATE INDEX IF NOT EXISTS `+name+`_id ON `+name+` (stage_id)`); err != nil {
				return fmt.Errorf("index %s: %w", name, err)
			}
			continue
		}
		have, err := s.columnsOf(ctx, name)
		if err != nil {
			return err
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

// stageTableNames are the stage tables the mirror has.
func (s *Store) stageTableNames(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'stage!_%' ESCAPE '!'`)
	if err != nil {
		return nil, fmt.Errorf("list stage tables: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

// columnsOf is the set of a table's columns, read from an empty query
// (no PRAGMA: a libSQL server refuses those with an argument).
func (s *Store) columnsOf(ctx context.Context, table string) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM `+table+` LIMIT 0`)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	out := make(map[string]bool, len(cols))
	for _, c := range cols {
		out[c] = true
	}
	return out, rows.Err()
}
