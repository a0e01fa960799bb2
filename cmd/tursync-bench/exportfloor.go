package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/tursync/tursync/export"
	"github.com/tursync/tursync/storage"
)

// exportFloor copies every table an export carries from a mirror file as
// directly as the libraries allow: with --pg, one pgx COPY per table into
// a copy of the table an export made there (floor_<table>, LIKE it with
// its key), no
// cursor, no paging, no upsert; with --parquet, one parquet-go file per
// table, every column an optional string. What an export costs is read
// against these.
func exportFloor(args []string) error {
	fs := flag.NewFlagSet("exportfloor", flag.ContinueOnError)
	db := fs.String("db", "", "the mirror file")
	pgURL := fs.String("pg", "", "PostgreSQL URL whose tables an export already made")
	dir := fs.String("parquet", "", "directory for the Parquet floor")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *db == "" || (*pgURL == "") == (*dir == "") {
		return errors.New("usage: tursync-bench exportfloor --db MIRROR (--pg URL | --parquet DIR)")
	}
	ctx := context.Background()
	st, err := storage.Open(ctx, "file:"+*db, storage.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	rows := 0
	for _, table := range export.Tables() {
		var n int
		if *pgURL != "" {
			n, err = pgFloorTable(ctx, st.DB(), *pgURL, table)
		} else {
			n, err = parquetFloorTable(st.DB(), *dir, table)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
		rows += n
	}
	wall := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(result{Case: "exportfloor", WallSeconds: wall, Rows: rows, RowsPerSec: float64(rows) / wall})
}

func pgFloorTable(ctx context.Context, db *sql.DB, url, table string) (int, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	floor := "floor_" + table
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{floor}.Sanitize()+`; CREATE TABLE `+pgx.Identifier{floor}.Sanitize()+
		` (LIKE `+pgx.Identifier{table}.Sanitize()+` INCLUDING ALL)`); err != nil {
		return 0, err
	}
	// The target's columns and types, to give each value the Go type its
	// column takes.
	var cols, types []string
	r, err := conn.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, floor)
	if err != nil {
		return 0, err
	}
	for r.Next() {
		var c, t string
		if err := r.Scan(&c, &t); err != nil {
			return 0, err
		}
		cols, types = append(cols, c), append(types, t)
	}
	r.Close()
	quoted := ""
	for i, c := range cols {
		if i > 0 {
			quoted += ", "
		}
		quoted += `"` + c + `"`
	}
	rows, err := db.QueryContext(ctx, `SELECT `+quoted+` FROM "`+table+`"`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	src := &floorSource{rows: rows, types: types}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{floor}, cols, src)
	if err == nil {
		err = src.err
	}
	return int(n), err
}

// floorSource hands COPY the mirror's rows, each value converted to what
// its column takes and nothing more.
type floorSource struct {
	rows  *sql.Rows
	types []string
	vals  []any
	err   error
}

func (s *floorSource) Next() bool {
	if !s.rows.Next() {
		s.err = s.rows.Err()
		return false
	}
	raw := make([]any, len(s.types))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if s.err = s.rows.Scan(ptrs...); s.err != nil {
		return false
	}
	for i, v := range raw {
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		switch s.types[i] {
		case "boolean":
			if n, ok := v.(int64); ok {
				v = n != 0
			}
		case "timestamp with time zone":
			if t, ok := v.(string); ok {
				if t == "" {
					v = nil
				} else if ts, err := time.Parse(time.RFC3339Nano, t); err == nil {
					v = ts
				}
			}
		case "jsonb":
			if v == "" {
				v = nil
			}
		}
		raw[i] = v
	}
	s.vals = raw
	return true
}

func (s *floorSource) Values() ([]any, error) { return s.vals, nil }
func (s *floorSource) Err() error             { return s.err }

func parquetFloorTable(db *sql.DB, dir, table string) (int, error) {
	rows, err := db.Query(`SELECT * FROM "` + table + `"`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	g := parquet.Group{}
	for _, c := range cols {
		g[c] = parquet.Optional(parquet.String())
	}
	schema := parquet.NewSchema(table, g)
	index := map[string]int{}
	for i, p := range schema.Columns() {
		index[p[0]] = i
	}
	f, err := os.Create(filepath.Join(dir, table+".parquet"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := parquet.NewGenericWriter[any](f, schema, parquet.Compression(&zstd.Codec{}))
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	n := 0
	var batch []parquet.Row
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		row := make(parquet.Row, len(cols))
		for i, c := range cols {
			j := index[c]
			if raw[i] == nil {
				row[j] = parquet.NullValue().Level(0, 0, j)
				continue
			}
			b, ok := raw[i].([]byte)
			if !ok {
				b = []byte(fmt.Sprint(raw[i]))
			}
			row[j] = parquet.ByteArrayValue(b).Level(0, 1, j)
		}
		batch = append(batch, row)
		n++
		if len(batch) == 5000 {
			if _, err := w.WriteRows(batch); err != nil {
				return n, err
			}
			batch = nil
		}
	}
	if _, err := w.WriteRows(batch); err != nil {
		return n, err
	}
	if err := w.Close(); err != nil {
		return n, err
	}
	return n, rows.Err()
}
