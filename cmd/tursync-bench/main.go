// Command tursync-bench measures the references of docs/PERFORMANCE.md
// against a running simulator (tursync simulate), so scripts/bench.sh can
// set a pass beside them in the same run:
//
//	tursync-bench fetch --api URL      read and decode every page a pass reads with the
//	                                   project's client; nothing else
//	tursync-bench fetchfloor --api URL [--all-audit]
//	                                   the same pages, each decoded in one pass that keeps
//	                                   every element's raw bytes as a sub-slice of the body
//	                                   (go-json-experiment/json): the fetch floor
//	tursync-bench baseline --api URL --db PATH
//	                                   the same rows, mapped, upserted straight into a fresh
//	                                   mirror file with prepared statements, 1,000 rows per
//	                                   transaction
//	tursync-bench writefloor --api URL --db PATH
//	                                   the same rows into a fresh mirror (the project's
//	                                   migrations and indexes) in one transaction, with
//	                                   cache_size=-65536 and temp_store=MEMORY: the write floor
//	tursync-bench extractfloor --api URL --proxy SQLD --sql S --concurrency N
//	                                   the floor of tursync extract: the statement in every
//	                                   database, one read-only token per group, rows dropped
//	tursync-bench tenantkey --out DIR  an Ed25519 key pair for the test bed (tenant.key,
//	                                   tenant.pub)
//
// Each prints one JSON line: wall seconds, requests, rows and rows/s.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tursync/tursync/mapper"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
)

func main() {
	if err := dispatch(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tursync-bench:", err)
		os.Exit(1)
	}
}

// result is what a measurement prints.
type result struct {
	Case        string  `json:"case"`
	WallSeconds float64 `json:"wall_seconds"`
	Requests    int64   `json:"requests"`
	Rows        int     `json:"rows,omitempty"`
	// WriteSeconds is the time spent writing (baseline only); RowsPerSec
	// divides the rows by it.
	WriteSeconds float64 `json:"write_seconds,omitempty"`
	RowsPerSec   float64 `json:"rows_per_sec,omitempty"`
}

// dispatch runs the extraction commands, and the sync ones through run.
func dispatch(args []string) error {
	if len(args) > 0 && args[0] == "extractfloor" {
		return extractFloor(args[1:])
	}
	if len(args) > 0 && args[0] == "tenantkey" {
		return tenantKey(args[1:])
	}
	if len(args) > 0 && args[0] == "exportfloor" {
		return exportFloor(args[1:])
	}
	return run(args)
}

func run(args []string) error {
	if len(args) == 0 || !slices.Contains([]string{"fetch", "fetchfloor", "baseline", "writefloor"}, args[0]) {
		return fmt.Errorf("usage: tursync-bench fetch|fetchfloor|baseline|writefloor --api URL [--token T | --tokens FILE] [--db PATH] [--all-audit]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	api := fs.String("api", "http://127.0.0.1:8081", "simulator base URL")
	token := fs.String("token", "bench", "bearer token")
	tokensFile := fs.String("tokens", "", "fetch, baseline, writefloor: a file of tokens, one a line, each an account read in turn (a fleet's write floor)")
	db := fs.String("db", "", "mirror file for baseline and writefloor (created)")
	allAudit := fs.Bool("all-audit", false, "fetchfloor: read every audit-log page, as a first pass does (default: the first, as an unchanged pass)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx := context.Background()
	if args[0] == "fetchfloor" {
		if *tokensFile != "" {
			return errors.New("fetchfloor: one account, by --token")
		}
		res, err := fetchFloor(ctx, *api, *token, *allAudit)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	tokens, err := tokenList(*token, *tokensFile)
	if err != nil {
		return err
	}
	start := time.Now()
	res := result{Case: args[0]}
	var sink rowSink = func([]schema.Row, []schema.Usage) error { return nil }
	var w *baselineWriter
	writes := args[0] == "baseline" || args[0] == "writefloor"
	if writes {
		if *db == "" {
			return fmt.Errorf("%s: --db is required", args[0])
		}
		st, err := storage.Open(ctx, "file:"+*db, storage.Options{})
		if err != nil {
			return err
		}
		defer st.Close()
		w = &baselineWriter{db: st.DB(), stmts: map[*schema.Table]*sql.Stmt{}, account: "bench"}
		if args[0] == "writefloor" {
			if err := w.oneTransaction(ctx); err != nil {
				return err
			}
		}
		sink = w.add
	}
	for i, tok := range tokens {
		c, err := turso.NewClient(turso.Options{BaseURL: *api, Token: turso.NewSecret(tok), Timeout: time.Minute})
		if err != nil {
			return err
		}
		if w != nil && len(tokens) > 1 {
			// Each account's rows under an account of their own, as
			// tursync writes a fleet.
			if err := w.flush(); err != nil {
				return err
			}
			w.account = fmt.Sprintf("a%d", i+1)
		}
		if err := readAll(ctx, c, writes, sink); err != nil {
			return err
		}
		res.Requests += c.Stats().Requests
	}
	if w != nil {
		if err := w.finish(); err != nil {
			return err
		}
		res.Rows, res.WriteSeconds = w.rows, w.spent.Seconds()
		res.RowsPerSec = float64(w.rows) / w.spent.Seconds()
	}
	res.WallSeconds = time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// tokenList is the --token, or the tokens of the --tokens file.
func tokenList(token, file string) ([]string, error) {
	if file == "" {
		return []string{token}, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	tokens := strings.Fields(string(b))
	if len(tokens) == 0 {
		return nil, fmt.Errorf("--tokens %s: no token", file)
	}
	return tokens, nil
}

// rowSink receives mapped rows as pages arrive.
type rowSink func(rows []schema.Row, usage []schema.Usage) error

// readAll reads every org the way a first pass does (one audit page when
// mapping is off, as an unchanged pass reads), decoding every page; with
// mapRows it maps them and hands them to sink.
func readAll(ctx context.Context, c *turso.Client, mapRows bool, sink rowSink) error {
	orgs, err := c.ListOrganizations(ctx)
	if err != nil {
		return err
	}
	day := time.Now().UTC().Format("2006-01-02")
	for _, o := range orgs {
		org := o.Slug
		full, err := c.GetOrganization(ctx, org)
		if err != nil {
			return err
		}
		ms, err := c.ListMembers(ctx, org)
		if err != nil {
			return err
		}
		is, err := c.ListInvites(ctx, org)
		if err != nil {
			return err
		}
		gs, err := c.ListGroups(ctx, org)
		if err != nil {
			return err
		}
		ts, err := c.ListAPITokens(ctx, org)
		if err != nil {
			return err
		}
		if mapRows {
			if err := sink(mapOrgLists(org, full, ms, is, gs, ts), nil); err != nil {
				return err
			}
		}
		err = c.ListDatabases(ctx, org, func(page []turso.Database) error {
			if !mapRows {
				return nil
			}
			rows := make([]schema.Row, len(page))
			for i, d := range page {
				rows[i] = mapper.Database(org, d)
			}
			return sink(rows, nil)
		})
		if err != nil {
			return err
		}
		for page := 1; ; page++ {
			p, err := c.AuditLogs(ctx, org, page, turso.AuditLogPageSize)
			if err != nil {
				return err
			}
			if mapRows {
				for _, ev := range p.AuditLogs {
					a := mapper.AuditLog(org, ev)
					if err := sink([]schema.Row{auditRow(a)}, nil); err != nil {
						return err
					}
				}
			}
			if !mapRows || page >= p.Pagination.TotalPages || len(p.AuditLogs) == 0 {
				break
			}
		}
		u, err := c.OrganizationUsage(ctx, org, func(page []turso.DatabaseUsage) error {
			if !mapRows {
				return nil
			}
			return sink(nil, mapper.DatabaseUsage(org, day, page))
		})
		if err != nil {
			return err
		}
		if mapRows {
			if err := sink(nil, []schema.Usage{mapper.OrgUsage(org, day, u)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// mapOrgLists maps an org's one-call resources as a first pass does.
func mapOrgLists(org string, full turso.Organization, ms []turso.Member, is []turso.Invite, gs []turso.Group, ts []turso.APIToken) []schema.Row {
	rows := []schema.Row{mapper.Organization(full)}
	users, ras := mapper.Members(org, ms)
	for _, u := range users {
		rows = append(rows, u)
	}
	for _, r := range ras {
		rows = append(rows, r)
	}
	invs, iusers, iras := mapper.Invites(org, is, mapper.Directory{UserByEmail: map[string]string{}, OrgMembers: map[string]bool{}})
	for _, r := range invs {
		rows = append(rows, r)
	}
	for _, r := range iusers {
		rows = append(rows, r)
	}
	for _, r := range iras {
		rows = append(rows, r)
	}
	for _, g := range gs {
		rows = append(rows, mapper.Group(org, g))
	}
	for _, t := range ts {
		rows = append(rows, mapper.APIToken(org, t))
	}
	return rows
}

// auditRow adapts an audit event to the Row interface for the baseline
// writer, which writes every table the same way.
type auditRow schema.AuditLog

var auditTable = &schema.Table{Name: "audit_logs", Keys: []string{"organization_id", "id"},
	Columns: []string{"code", "message", "origin", "author", "created_at", "data"}}

func (a auditRow) Table() *schema.Table { return auditTable }
func (a auditRow) KeyValues() []string  { return []string{a.OrganizationID, a.ID} }
func (a auditRow) Remote() []byte       { return a.RemoteData }
func (a auditRow) Values() []any {
	return []any{a.Code, a.Message, a.Origin, a.Author, a.CreatedAt, a.Data}
}

// baselineWriter upserts rows one prepared statement each, 1,000 per
// transaction (or all in one, tuned: the write floor), timing only the
// writes.
type baselineWriter struct {
	db    *sql.DB
	stmts map[*schema.Table]*sql.Stmt
	// account is the account_id the rows are written under.
	account string
	buf     []schema.Row
	ubuf    []schema.Usage
	rows    int
	spent   time.Duration
	// conn and tx hold the write floor's single transaction.
	conn *sql.Conn
	tx   *sql.Tx
}

// oneTransaction makes every flush write into one transaction on a
// connection tuned as the floor is: a 64 MiB page cache and temporary
// b-trees in memory.
func (w *baselineWriter) oneTransaction(ctx context.Context) error {
	start := time.Now()
	defer func() { w.spent += time.Since(start) }()
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return err
	}
	for _, p := range []string{`PRAGMA cache_size = -65536`, `PRAGMA temp_store = MEMORY`} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	w.conn = conn
	w.tx, err = conn.BeginTx(ctx, nil)
	return err
}

// finish writes what is buffered and commits the single transaction.
func (w *baselineWriter) finish() error {
	if err := w.flush(); err != nil {
		return err
	}
	if w.tx == nil {
		return nil
	}
	start := time.Now()
	defer func() { w.spent += time.Since(start) }()
	err := w.tx.Commit()
	w.conn.Close()
	return err
}

func (w *baselineWriter) add(rows []schema.Row, usage []schema.Usage) error {
	w.buf = append(w.buf, rows...)
	w.ubuf = append(w.ubuf, usage...)
	if len(w.buf)+len(w.ubuf) >= 1000 {
		return w.flush()
	}
	return nil
}

func (w *baselineWriter) flush() error {
	if len(w.buf)+len(w.ubuf) == 0 {
		return nil
	}
	start := time.Now()
	defer func() { w.spent += time.Since(start) }()
	tx := w.tx
	if tx == nil {
		var err error
		if tx, err = w.db.Begin(); err != nil {
			return err
		}
		defer tx.Rollback()
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, r := range w.buf {
		t := r.Table()
		st, err := w.prepare(tx, t)
		if err != nil {
			return err
		}
		args := []any{w.account}
		for _, k := range r.KeyValues() {
			args = append(args, k)
		}
		args = append(args, r.Values()...)
		if t == auditTable {
			args = append(args, string(r.Remote()), now)
		} else {
			args = append(args, "", string(r.Remote()), now, now)
			if t.SinceColumn != "" {
				args = append(args, now)
			}
		}
		if _, err := st.Exec(args...); err != nil {
			return fmt.Errorf("baseline %s: %w", t.Name, err)
		}
	}
	us, err := tx.Prepare(`INSERT INTO usage (account_id, organization_id, day, database_id, rows_read, rows_written, storage_bytes, bytes_synced, observed_at, remote_data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, organization_id, day, database_id) DO UPDATE SET rows_read = excluded.rows_read,
		rows_written = excluded.rows_written, storage_bytes = excluded.storage_bytes, bytes_synced = excluded.bytes_synced, observed_at = excluded.observed_at, remote_data = excluded.remote_data`)
	if err != nil {
		return err
	}
	defer us.Close()
	for _, u := range w.ubuf {
		if _, err := us.Exec(w.account, u.OrganizationID, u.Day, u.DatabaseID, u.RowsRead, u.RowsWritten, u.StorageBytes, u.BytesSynced, now, string(u.RemoteData)); err != nil {
			return fmt.Errorf("baseline usage: %w", err)
		}
	}
	if w.tx == nil {
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	w.rows += len(w.buf) + len(w.ubuf)
	w.buf, w.ubuf = w.buf[:0], w.ubuf[:0]
	if w.tx == nil {
		// Prepared on a transaction that ended: prepare again on the next.
		for t, st := range w.stmts {
			st.Close()
			delete(w.stmts, t)
		}
	}
	return nil
}

// prepare returns the table's upsert, prepared on tx.
func (w *baselineWriter) prepare(tx *sql.Tx, t *schema.Table) (*sql.Stmt, error) {
	if st, ok := w.stmts[t]; ok {
		return st, nil
	}
	cols := append(append([]string{"account_id"}, t.Keys...), t.Columns...)
	if t == auditTable {
		cols = append(cols, "remote_data", "first_seen_at")
	} else {
		cols = append(cols, "content_hash", "remote_data", "first_seen_at", "updated_at")
		if t.SinceColumn != "" {
			cols = append(cols, t.SinceColumn)
		}
	}
	var sets []string
	for _, c := range t.Columns {
		sets = append(sets, c+" = excluded."+c)
	}
	q := `INSERT INTO ` + t.Quoted() + ` (` + strings.Join(cols, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(cols)-1) + `)
		ON CONFLICT (account_id, ` + strings.Join(t.Keys, ", ") + `) DO UPDATE SET ` + strings.Join(sets, ", ")
	st, err := tx.Prepare(q)
	if err != nil {
		return nil, err
	}
	w.stmts[t] = st
	return st, nil
}
