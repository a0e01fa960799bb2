package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tursync/tursync/storage"
)

// postgres is a PostgreSQL target.
type postgres struct {
	conn *pgx.Conn
	id   string
}

// TargetError is a failure of the target (PostgreSQL down, refusing, a
// table that does not fit, a directory that cannot be written): the
// cursor did not move. Class says which.
type TargetError struct {
	Export string
	// Class is network (no answer), refused (PostgreSQL said no), schema
	// (a target table that does not fit), busy (another run holds the
	// target) or io (the directory).
	Class string
	Hint  string
	Err   error
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("export %s (%s): %v; %s", e.Export, e.Class, e.Err, e.Hint)
}

func (e *TargetError) Unwrap() error { return e.Err }

// conflictError is a target column whose type is not the one the export
// writes.
type conflictError struct{ table, column, have, want string }

func (e *conflictError) Error() string {
	return fmt.Sprintf("column %s.%s is %s in the target; the export writes %s", e.table, e.column, e.have, e.want)
}

// resumes is what every target failure leaves.
const resumes = "the cursor did not move: the next run resumes from it"

func targetErr(id string, err error) error {
	var te *TargetError
	if errors.As(err, &te) {
		return err
	}
	class, hint := "io", resumes
	var pe *pgconn.PgError
	var conflict *conflictError
	var netErr net.Error
	switch {
	case errors.As(err, &conflict):
		class, hint = "schema", "rename or drop that table in the target (the next run recreates and copies it whole), or export elsewhere; "+resumes
	case errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "08")):
		// Shutting down, starting up, or the connection broke.
		class, hint = "network", "PostgreSQL went away ("+pe.Code+"); is it up? "+resumes
	case errors.As(err, &pe):
		class, hint = "refused", "PostgreSQL refused it ("+pe.Code+"); "+resumes
	case errors.As(err, &netErr) || pgconn.Timeout(err) || strings.Contains(err.Error(), "connect") || errors.Is(err, io.ErrUnexpectedEOF):
		class, hint = "network", "is PostgreSQL up and reachable at the URL? "+resumes
	}
	return &TargetError{Export: id, Class: class, Hint: hint, Err: err}
}

func openPostgres(ctx context.Context, e Export) (*postgres, error) {
	cfg, err := pgx.ParseConfig(e.To)
	if err != nil {
		return nil, fmt.Errorf("export %s: to: %w", e.ID, err)
	}
	if e.Password != "" {
		cfg.Password = e.Password
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, targetErr(e.ID, fmt.Errorf("connect to %s@%s:%d/%s: %w", cfg.User, cfg.Host, cfg.Port, cfg.Database, redact(err, e.Password)))
	}
	return &postgres{conn: conn, id: e.ID}, nil
}

// redact keeps a password out of an error's text.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "REDACTED"))
}

func (p *postgres) close() { _ = p.conn.Close(context.Background()) }

// stateTable holds each export's cursor per table, in the target itself:
// a target restored from a backup asks for what it lacks.
const stateTable = "tursync_export_state"

type tableState struct {
	storage.ExportCursor `json:"cursor"`
	Accounts             string `json:"accounts"`
}

// write runs the export's tables in one transaction with their cursors.
func (p *postgres) write(ctx context.Context, w *run, tables []*table, rep *Report) (err error) {
	tx, err := p.conn.Begin(ctx)
	if err != nil {
		return targetErr(p.id, err)
	}
	defer func() {
		if err != nil || w.o.DryRun {
			_ = tx.Rollback(context.Background())
		}
	}()
	// One run of an export at a time, whatever process runs it.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "tursync export "+p.id); err != nil {
		return targetErr(p.id, err)
	}
	for _, q := range []string{`CREATE TABLE IF NOT EXISTS ` + stateTable + ` (
		export text NOT NULL, table_name text NOT NULL, last_event_id bigint NOT NULL, last_scope_rowid bigint NOT NULL,
		last_audit_rowid bigint NOT NULL, usage_day text NOT NULL, accounts text NOT NULL, updated_at timestamptz NOT NULL,
		PRIMARY KEY (export, table_name))`,
		// Added with row_versions: a target an earlier tursync made lacks it.
		`ALTER TABLE ` + stateTable + ` ADD COLUMN IF NOT EXISTS last_version_rowid bigint NOT NULL DEFAULT 0`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return targetErr(p.id, err)
		}
	}
	for _, t := range tables {
		tr, err := p.writeTable(ctx, tx, w, t)
		if err != nil {
			return targetErr(p.id, fmt.Errorf("table %s: %w", t.name, err))
		}
		rep.Tables = append(rep.Tables, tr)
	}
	if w.o.DryRun {
		return nil
	}
	if stopAt != nil && stopAt("commit", 0) {
		return errStopped
	}
	if err := tx.Commit(ctx); err != nil {
		return targetErr(p.id, fmt.Errorf("commit: %w", err))
	}
	return nil
}

func (p *postgres) state(ctx context.Context, tx pgx.Tx, t *table) (tableState, bool, error) {
	var s tableState
	err := tx.QueryRow(ctx, `SELECT last_event_id, last_scope_rowid, last_audit_rowid, last_version_rowid, usage_day, accounts FROM `+stateTable+`
		WHERE export = $1 AND table_name = $2`, p.id, t.name).Scan(&s.Event, &s.Scope, &s.Audit, &s.Versions, &s.UsageDay, &s.Accounts)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil
	}
	return s, err == nil, err
}

// writeTable brings one table up to the run's position.
func (p *postgres) writeTable(ctx context.Context, tx pgx.Tx, w *run, t *table) (TableReport, error) {
	tr := TableReport{Table: t.name, Copy: "changes"}
	added, err := ensureTable(ctx, tx, t)
	if err != nil {
		return tr, err
	}
	st, found, err := p.state(ctx, tx, t)
	if err != nil {
		return tr, err
	}
	tr.Why = w.fullWhy(t, st, found, added)
	up := &copier{ctx: ctx, tx: tx, t: t}
	if tr.Why != "" {
		tr.Copy = "full"
		err = up.replace(ctx, func(add func([]any) error) error {
			return w.read.Scan(ctx, t.name, t.columnNames(), w.filter(t, nil), add)
		})
	} else {
		err = w.changes(ctx, t, st, up)
	}
	if err == nil {
		err = up.flush(ctx)
	}
	if err != nil {
		return tr, err
	}
	tr.Rows = up.rows
	_, err = tx.Exec(ctx, `INSERT INTO `+stateTable+` (export, table_name, last_event_id, last_scope_rowid, last_audit_rowid, last_version_rowid,
			usage_day, accounts, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (export, table_name) DO UPDATE SET last_event_id = excluded.last_event_id, last_scope_rowid = excluded.last_scope_rowid,
			last_audit_rowid = excluded.last_audit_rowid, last_version_rowid = excluded.last_version_rowid, usage_day = excluded.usage_day,
			accounts = excluded.accounts, updated_at = excluded.updated_at`,
		p.id, t.name, w.pos.Event, w.pos.Scope, w.pos.Audit, w.pos.Versions, w.pos.UsageDay, w.accountsKey(), w.o.Now())
	return tr, err
}

// ensureTable creates the target table, adds the columns a mirror
// migration added since (and names one), and fails on a column whose type
// differs.
func ensureTable(ctx context.Context, tx pgx.Tx, t *table) (added string, err error) {
	defs := make([]string, len(t.columns))
	for i, c := range t.columns {
		defs[i] = ident(c.name) + " " + string(c.typ)
	}
	keys := make([]string, len(t.key))
	for i, k := range t.key {
		keys[i] = ident(k)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+ident(t.name)+` (`+strings.Join(defs, ", ")+`, PRIMARY KEY (`+strings.Join(keys, ", ")+`))`); err != nil {
		return "", err
	}
	rows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, t.name)
	if err != nil {
		return "", err
	}
	have := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return "", err
		}
		have[name] = typ
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	for _, c := range t.columns {
		typ, ok := have[c.name]
		switch {
		case !ok:
			if _, err := tx.Exec(ctx, `ALTER TABLE `+ident(t.name)+` ADD COLUMN `+ident(c.name)+` `+string(c.typ)); err != nil {
				return "", err
			}
			added = c.name
		case typ != string(c.typ):
			return "", &conflictError{table: t.name, column: c.name, have: typ, want: string(c.typ)}
		}
	}
	return added, nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// copier writes rows to a table: a whole copy with one streaming COPY
// into a staging table swapped in at the end (replace), changes in
// batches through COPY into a temporary table and an upsert on the key
// (add, flush).
type copier struct {
	ctx   context.Context
	tx    pgx.Tx
	t     *table
	batch [][]any
	rows  int64
	// upsert moves a batch from the temporary table into the table; made
	// with the temporary table at the first batch.
	upsert string
}

// batchRows bounds the rows held in memory, one COPY each (a variable:
// tests make it small so a run spans several batches).
var batchRows = 20000

// replace copies what produce hands it into a staging table, then swaps
// its rows in for the table's: until the swap the table keeps its rows
// and stays readable (TRUNCATE's lock is taken only for the server-side
// INSERT that ends the copy), and the table itself stays, with the views
// and grants a warehouse hangs on it. All of it is in the run's
// transaction: another session sees the old rows or the new, never part.
// An empty table (a first run) has no rows to keep readable: the copy
// goes straight in, once.
func (c *copier) replace(ctx context.Context, produce func(add func([]any) error) error) error {
	var empty bool
	if err := c.tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM `+ident(c.t.name)+`)`).Scan(&empty); err != nil {
		return err
	}
	if empty {
		return c.stream(ctx, c.t.name, produce)
	}
	stage := "tursync_stage_" + c.t.name
	if _, err := c.tx.Exec(ctx, `CREATE TEMP TABLE `+ident(stage)+` (LIKE `+ident(c.t.name)+`) ON COMMIT DROP`); err != nil {
		return err
	}
	if err := c.stream(ctx, stage, produce); err != nil {
		return err
	}
	cols := quoteIdents(c.t.columnNames())
	for _, q := range []string{
		`TRUNCATE ` + ident(c.t.name),
		`INSERT INTO ` + ident(c.t.name) + ` (` + cols + `) SELECT ` + cols + ` FROM ` + ident(stage),
		`DROP TABLE ` + ident(stage),
	} {
		if _, err := c.tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func quoteIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = ident(n)
	}
	return strings.Join(q, ", ")
}

// stream copies what produce hands it into table dest in one COPY,
// reading the mirror in a goroutine of its own so that PostgreSQL takes
// rows while the next are read: a whole copy's rows never wait in memory.
func (c *copier) stream(ctx context.Context, dest string, produce func(add func([]any) error) error) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows := make(chan []any, 1024)
	produced := make(chan error, 1)
	go func() {
		defer close(rows)
		produced <- produce(func(vals []any) error {
			if stopAt != nil && stopAt(c.t.name, c.rows) {
				return errStopped
			}
			row, err := c.convert(vals)
			if err != nil {
				return err
			}
			select {
			case rows <- row:
				c.rows++
				return nil
			case <-cctx.Done():
				return cctx.Err()
			}
		})
	}()
	_, err := c.tx.CopyFrom(ctx, pgx.Identifier{dest}, c.t.columnNames(), &chanSource{rows: rows})
	cancel() // a COPY that failed stops the reader
	if perr := <-produced; perr != nil && (err == nil || !errors.Is(perr, context.Canceled)) {
		return perr
	}
	return err
}

// chanSource is a COPY's rows from a channel.
type chanSource struct {
	rows <-chan []any
	row  []any
}

func (s *chanSource) Next() bool {
	row, ok := <-s.rows
	s.row = row
	return ok
}

func (s *chanSource) Values() ([]any, error) { return s.row, nil }
func (s *chanSource) Err() error             { return nil }

// stopAt, when a test sets it, stops a run where it says yes: at a row
// of a table (the rows the table's copier holds so far), or at "commit"
// before the transaction commits.
var stopAt func(table string, rows int64) bool

var errStopped = errors.New("stopped by the test")

// phase is what the parquet sink records of the rows that follow; the
// target's tables hold the rows alone.
func (c *copier) phase(string) {}

func (c *copier) add(vals []any) error {
	if stopAt != nil && stopAt(c.t.name, c.rows+int64(len(c.batch))) {
		return errStopped
	}
	row, err := c.convert(vals)
	if err != nil {
		return err
	}
	c.batch = append(c.batch, row)
	if len(c.batch) >= batchRows {
		return c.flush(c.ctx)
	}
	return nil
}

// convert is a mirror row as the target's columns take it.
func (c *copier) convert(vals []any) ([]any, error) {
	row := make([]any, len(c.t.columns))
	for i, v := range vals[:len(c.t.columns)] {
		x, err := c.t.columns[i].value(v)
		if err != nil {
			return nil, err
		}
		row[i] = x
	}
	return row, nil
}

func (c *copier) flush(ctx context.Context) error {
	if len(c.batch) == 0 {
		return nil
	}
	temp := "tursync_upsert_" + c.t.name
	if c.upsert == "" {
		if _, err := c.tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS `+ident(temp)+` (LIKE `+ident(c.t.name)+`) ON COMMIT DROP`); err != nil {
			return err
		}
		c.upsert = upsertSQL(c.t, temp)
	}
	if _, err := c.tx.Exec(ctx, `TRUNCATE `+ident(temp)); err != nil {
		return err
	}
	n, err := c.tx.CopyFrom(ctx, pgx.Identifier{temp}, c.t.columnNames(), pgx.CopyFromRows(c.batch))
	if err != nil {
		return err
	}
	if _, err := c.tx.Exec(ctx, c.upsert); err != nil {
		return err
	}
	c.rows += n
	c.batch = c.batch[:0]
	return nil
}

// upsertSQL moves the rows of temp into t's table, one per key (a row two
// events name is read once per event), updating those it has.
func upsertSQL(t *table, temp string) string {
	var sets []string
	for _, col := range t.columnNames() {
		if !slices.Contains(t.key, col) {
			sets = append(sets, ident(col)+" = excluded."+ident(col))
		}
	}
	cols, keys := quoteIdents(t.columnNames()), quoteIdents(t.key)
	action := "DO NOTHING"
	if len(sets) > 0 {
		action = "DO UPDATE SET " + strings.Join(sets, ", ")
	}
	return `INSERT INTO ` + ident(t.name) + ` (` + cols + `)
		SELECT DISTINCT ON (` + keys + `) ` + cols + ` FROM ` + ident(temp) + `
		ON CONFLICT (` + keys + `) ` + action
}
