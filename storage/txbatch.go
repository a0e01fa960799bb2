package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tursync/tursync/schema"
)

// txBatch gathers one commit. Everything that needs a read is decided here,
// before the commit, against the mirror as it is (the account's lease
// guarantees no other process writes it meanwhile): new and changed rows go
// to the stage tables in many short statements, and the statements that
// copy them into place, tombstone what vanished and record the scopes are
// kept for the commit, which then does no read the client waits on.
type txBatch struct {
	s       *Store
	account string
	runID   int64
	at      string
	base    string // prefix of this batch's stage ids
	dry     bool   // compute counts, stage and commit nothing
	stmts   []stmt
	bufs    map[string]*stageBuf
	staged  bool
	written *keySet // seenKey of the rows this batch writes in shared tables
	seq     int64
	sec     *section
	took    time.Duration   // how long the commit's transaction took
	used    map[string]bool // stage tables this batch wrote
	rows    int             // rows it staged
	w       *stageWriter    // sends full stage buffers; nil when idle
	// A batch is small until it holds inlineMaxBytes of rows (see
	// smallbatch.go): its new rows are held for the commit to insert
	// straight into place, its staging inserts wait in inline for the
	// commit's own transaction, and it may commit in a group. Past that
	// it is streaming: the stage writer sends full stage buffers as they
	// fill, ahead of the commit.
	streaming   bool
	inline      []stmt
	inlineBytes int
	held        map[string]*heldRows // by stage table
	scope       *Scope               // the scope being planned, for a dry run's list
	// touchesUsers: the batch writes users or role assignments.
	touchesUsers bool
	// evTables are the tables the batch writes change events of.
	evTables map[*schema.Table]bool
}

// note lists one planned change of a dry run on the scope being planned.
func (p *txBatch) note(c PlannedChange) {
	sc := p.scope
	if !p.dry || sc == nil {
		return
	}
	if len(sc.Planned) >= PlannedLimit {
		sc.PlannedMore++
		return
	}
	sc.Planned = append(sc.Planned, c)
}

// section is one scope's part of a batch: its stage id and what it staged.
type section struct {
	id     string
	tables []*tableUse
	events int
}

type tableUse struct {
	t            *schema.Table
	new, changed int
}

func (s *Store) newTxBatch(account string, runID int64, dry bool) *txBatch {
	return &txBatch{s: s, account: account, runID: runID, at: s.ts(s.now()), base: newStageID(), dry: dry,
		bufs: map[string]*stageBuf{}, written: newKeySet(), used: map[string]bool{}}
}

// open starts the section of one scope.
func (p *txBatch) open(name string) *section {
	p.sec = &section{id: p.base + "/" + name}
	return p.sec
}

func (sec *section) use(t *schema.Table) *tableUse {
	for _, u := range sec.tables {
		if u.t == t {
			return u
		}
	}
	u := &tableUse{t: t}
	sec.tables = append(sec.tables, u)
	return u
}

func (p *txBatch) add(q string, args ...any) { p.stmts = append(p.stmts, stmt{q, args}) }

// close adds the statements that apply the section's staged rows and
// events; the caller adds tombstones and the scope record after.
func (p *txBatch) close() {
	sec := p.sec
	for _, u := range sec.tables {
		t := u.t
		cols := entityCols(t)
		p.touchesUsers = p.touchesUsers || (sharedTable(t) && u.new+u.changed > 0)
		if u.new > 0 && p.insertHeld("stage_"+t.Name) {
			// In key order, the inserts append to the primary key's b-tree
			// instead of splitting pages all over it.
			p.add(`INSERT INTO `+t.Quoted()+` (`+strings.Join(cols, ", ")+`) SELECT `+strings.Join(cols, ", ")+
				` FROM stage_`+t.Name+` WHERE stage_id = ? AND stage_op = 'new' ORDER BY `+strings.Join(t.Keys, ", "), sec.id)
		}
		if u.changed > 0 {
			sets := make([]string, 0, len(t.Columns)+6)
			for _, c := range t.Columns {
				sets = append(sets, c+" = s."+c)
			}
			sets = append(sets, "content_hash = s.content_hash", "remote_data = s.remote_data", "deleted_at = NULL", "deleted_reason = NULL",
				"updated_at = coalesce(s.updated_at, "+t.Quoted()+".updated_at)")
			if t.SinceColumn != "" {
				sets = append(sets, t.SinceColumn+" = coalesce(s."+t.SinceColumn+", "+t.Quoted()+"."+t.SinceColumn+")")
			}
			if schema.HasHistory(t) {
				sets = append(sets, "deleted_happened_at = NULL", "deleted_by = NULL")
				p.endChangedVersions(t, sec.id)
			}
			match := []string{t.Quoted() + ".account_id = s.account_id"}
			for _, k := range t.Keys {
				match = append(match, t.Quoted()+"."+k+" = s."+k)
			}
			p.add(`UPDATE `+t.Quoted()+` SET `+strings.Join(sets, ", ")+
				` FROM (SELECT * FROM stage_`+t.Name+` WHERE stage_id = ? AND stage_op = 'changed') AS s WHERE `+strings.Join(match, " AND "), sec.id)
		}
	}
	if sec.events > 0 {
		p.add(`INSERT INTO change_events (account_id, run_id, at, entity, entity_id, organization_id, op, changes)
			SELECT account_id, run_id, at, entity, entity_id, organization_id, op, changes FROM stage_change_events WHERE stage_id = ? ORDER BY seq`, sec.id)
	}
}

// entityCols are the columns an entity row is inserted with.
func entityCols(t *schema.Table) []string {
	cols := append(append([]string{"account_id"}, t.Keys...), t.Columns...)
	cols = append(cols, "content_hash", "remote_data", "first_seen_at", "updated_at")
	if t.SinceColumn != "" {
		cols = append(cols, t.SinceColumn)
	}
	return cols
}

// stageBuf holds rows bound for one stage table until a multi-row insert.
type stageBuf struct {
	insert string // INSERT INTO table (columns)
	tuple  string
	n      int // columns per row
	args   []any
	bytes  int
}

// Each staging insert stays under SQLite's bound-parameter limit and keeps
// a remote request small.
const (
	stageMaxParams = 30000
	stageMaxBytes  = 4 << 20
)

// stage queues one row for table with the given columns.
func (p *txBatch) stage(ctx context.Context, table string, cols []string, vals ...any) error {
	if p.dry {
		return nil
	}
	key := table + "\x00" + strings.Join(cols, ",")
	b := p.bufs[key]
	if b == nil {
		b = &stageBuf{insert: `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `)`,
			tuple: "(?" + strings.Repeat(", ?", len(cols)-1) + ")", n: len(cols)}
		p.bufs[key] = b
	}
	p.used[table] = true
	p.rows++
	b.args = append(b.args, vals...)
	b.bytes += valuesBytes(vals)
	if len(b.args)+b.n > stageMaxParams || b.bytes > stageMaxBytes {
		return p.flush(ctx, b)
	}
	return nil
}

// flush hands a full buffer to the stage writer, which sends it while the
// batch goes on reading and hashing the next rows; a small batch keeps it
// for its commit instead.
func (p *txBatch) flush(ctx context.Context, b *stageBuf) error {
	if len(b.args) == 0 {
		return nil
	}
	st, packed := stmt{}, false
	if p.s.remote {
		st, packed = packedInsert(b.insert, b.n, b.args)
	}
	if !packed {
		rows := len(b.args) / b.n
		st = stmt{b.insert + ` VALUES ` + b.tuple + strings.Repeat(", "+b.tuple, rows-1), b.args}
	}
	p.inlineBytes += b.bytes
	b.args, b.bytes = make([]any, 0, cap(b.args)), 0
	if !p.streaming {
		p.inline = append(p.inline, st)
		if p.inlineBytes <= inlineMaxBytes {
			return nil
		}
		return p.startStreaming(ctx)
	}
	p.staged = true
	if p.w == nil {
		p.w = p.startWriter(ctx)
	}
	return p.send(ctx, st)
}

func (p *txBatch) send(ctx context.Context, st stmt) error {
	select {
	case p.w.ch <- st:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flushAll sends what is left and waits until every staged row is written.
func (p *txBatch) flushAll(ctx context.Context) error {
	for _, b := range p.bufs {
		if err := p.flush(ctx, b); err != nil {
			p.waitWriter()
			return err
		}
	}
	return p.waitWriter()
}

// stageWriter sends staging inserts one at a time, in order, on its own
// goroutine; after an error it drops the rest.
type stageWriter struct {
	ch   chan stmt
	done chan struct{}
	err  error // read only after done is closed
}

func (p *txBatch) startWriter(ctx context.Context) *stageWriter {
	w := &stageWriter{ch: make(chan stmt, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for st := range w.ch {
			if w.err != nil {
				continue
			}
			if err := p.s.execPrepared(ctx, st.q, st.args...); err != nil {
				w.err = fmt.Errorf("stage rows: %w", err)
			}
		}
	}()
	return w
}

// waitWriter stops the stage writer, if one runs, and returns its error.
func (p *txBatch) waitWriter() error {
	if p.w == nil {
		return nil
	}
	w := p.w
	p.w = nil
	close(w.ch)
	<-w.done
	return w.err
}

// discard removes what the batch staged, in short statements.
// It may be called again (and is, deferred): the second call does nothing.
// truncate empties a stage table in one statement when it holds nothing
// but this batch's rows: SQLite then drops the table's pages instead of
// deleting row by row (2.4 s of CPU after a 250,000-database first pass).
// A mirror file only. The check and the delete are one transaction, so
// another writer staging rows in between makes it fail (SQLite refuses to
// upgrade a stale read), and the caller deletes this batch's rows alone.
func (p *txBatch) truncate(ctx context.Context, t string) bool {
	if p.s.remote {
		return false
	}
	p.s.writeMu.Lock()
	defer p.s.writeMu.Unlock()
	tx, err := p.s.db.BeginTx(ctx, nil)
	if err != nil {
		return false
	}
	defer tx.Rollback()
	var others bool
	err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+t+` WHERE stage_id < ?) OR EXISTS (SELECT 1 FROM `+t+` WHERE stage_id >= ?)`,
		p.base+"/", p.base+"0").Scan(&others)
	if err != nil || others {
		return false
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+t); err != nil || tx.Commit() != nil {
		return false
	}
	p.s.wrote()
	return true
}

func (p *txBatch) discard(ctx context.Context) {
	_ = p.waitWriter()
	if !p.staged {
		return
	}
	p.staged = false
	ctx = context.WithoutCancel(ctx)
	for _, t := range stageTables {
		if !p.used[t] || p.truncate(ctx, t) {
			continue
		}
		for {
			var n int64
			err := p.s.exec(ctx, func(res sql.Result) { n, _ = res.RowsAffected() },
				`DELETE FROM `+t+` WHERE rowid IN (SELECT rowid FROM `+t+` WHERE stage_id >= ? AND stage_id < ? LIMIT 20000)`, p.base+"/", p.base+"0")
			if err != nil || n < 20000 {
				break // on an error, the next lease of the account clears them
			}
		}
	}
	if !p.s.remote && p.rows >= vacuumAfterRows {
		// Free pages go back to the file system (a no-op on a mirror file
		// created without incremental auto-vacuum). A small batch's pages
		// are simply reused by the next one.
		_ = p.s.exec(ctx, nil, `PRAGMA incremental_vacuum`)
	}
}

// vacuumAfterRows is how many staged rows make a batch give their pages
// back to the file system.
const vacuumAfterRows = 10000

// commit flushes the staged rows and runs the batch's statements in one
// transaction. A small batch's transaction stages its rows first and
// removes them last, and may be grouped with other small commits; a large
// one's staged rows are removed after it.
func (p *txBatch) commit(ctx context.Context, fence *Lease) error {
	if p.dry {
		return nil
	}
	if err := p.flushAll(ctx); err != nil {
		p.discard(ctx)
		return err
	}
	start := time.Now()
	var err error
	if p.streaming {
		err = p.s.commitBatch(ctx, fence, p.stmts)
	} else {
		stmts := append(p.inline, p.stmts...)
		for _, t := range stageTables {
			if p.used[t] {
				stmts = append(stmts, stmt{`DELETE FROM ` + t + ` WHERE stage_id >= ? AND stage_id < ?`, []any{p.base + "/", p.base + "0"}})
			}
		}
		err = p.s.commitGrouped(ctx, fence, stmts, p.inlineBytes)
	}
	p.took = time.Since(start)
	// The stage rows of a large batch go after the commit, outside its
	// transaction, which they would only lengthen; a crash in between
	// leaves rows no commit reads again (stage ids are never reused),
	// removed when the account's lease is next taken.
	p.discard(ctx)
	return err
}

// event queues a change event of the open section.
func (p *txBatch) event(ctx context.Context, t *schema.Table, keys []string, op string, changes map[string]any) error {
	b, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	p.seq++
	p.sec.events++
	p.tableEvents(t)
	return p.stage(ctx, "stage_change_events", []string{"stage_id", "seq", "account_id", "run_id", "at", "entity", "entity_id", "organization_id", "op", "changes"},
		p.sec.id, p.seq, p.account, p.runID, p.at, t.Name, strings.Join(keys, "/"), eventOrg(t, keys), op, string(b))
}

func eventOrg(t *schema.Table, keys []string) any {
	if t == schema.Organizations {
		return keys[0]
	}
	for i, k := range t.Keys {
		if k == "organization_id" {
			return keys[i]
		}
	}
	return nil
}

// sharedTables are written by more than one scope of an org (users by
// members and invites, role assignments by both with their own source):
// only their keys are remembered, so that a row one scope wrote is not
// written again or tombstoned by another. Every other table has one scope,
// whose fetch lists each key once; remembering its keys would hold a
// large org's 250,000 database ids in memory for nothing.
func sharedTable(t *schema.Table) bool { return t == schema.Users || t == schema.RoleAssignments }

// wrote reports whether the batch already writes the row sk of t, and
// remembers it when t is shared.
func (p *txBatch) wrote(sk string, t *schema.Table) bool {
	if !sharedTable(t) {
		return false
	}
	return !p.written.add(sk)
}

// stageCols are an entity table's columns in its stage table.
func stageCols(t *schema.Table) []string {
	return append(entityCols(t), "stage_id", "stage_op")
}

// addNew stages a row Diff found new, with its created event unless this
// is the scope's baseline.
func (p *txBatch) addNew(ctx context.Context, r schema.Row, baseline bool) error {
	t := r.Table()
	keys, vals := r.KeyValues(), r.Values()
	sk := seenKey(t, keys)
	if p.wrote(sk, t) {
		return nil
	}
	args := make([]any, 0, len(vals)+len(keys)+9)
	args = append(args, p.account)
	for _, k := range keys {
		args = append(args, k)
	}
	args = append(args, vals...)
	args = append(args, rowHash(vals, r.Remote()), string(r.Remote()), p.at, p.at)
	if t.SinceColumn != "" {
		args = append(args, p.at)
	}
	args = append(args, p.sec.id, "new")
	if err := p.putNew(ctx, "INSERT", t.Quoted(), "stage_"+t.Name, stageCols(t), 2, args...); err != nil {
		return err
	}
	p.sec.use(t).new++
	if baseline && !p.dry {
		return nil
	}
	changes := map[string]any{}
	for i, c := range t.Columns {
		changes[c] = map[string]any{"old": nil, "new": norm(vals[i])}
	}
	p.note(PlannedChange{Op: opCreated, Table: t.Name, Key: strings.Join(keys, "/"), Fields: changes})
	if baseline {
		return nil
	}
	return p.event(ctx, t, keys, opCreated, changes)
}

// oldRow is a row as the mirror holds it before the commit.
type oldRow struct {
	hash    string
	deleted bool
	vals    []any
}

// readOld reads the stored rows of rows (all of one table) by key.
func (p *txBatch) readOld(ctx context.Context, t *schema.Table, rows []schema.Row) (map[string]oldRow, error) {
	out := make(map[string]oldRow, len(rows))
	for start := 0; start < len(rows); start += diffBatch {
		batch := rows[start:min(start+diffBatch, len(rows))]
		sel := `SELECT ` + strings.Join(t.Keys, ", ") + `, content_hash, deleted_at IS NOT NULL, ` + strings.Join(t.Columns, ", ") + ` FROM ` + t.Quoted()
		args := []any{p.account}
		tuple := "(?" + strings.Repeat(", ?", len(t.Keys)-1) + ")"
		for _, r := range batch {
			for _, k := range r.KeyValues() {
				args = append(args, k)
			}
		}
		q := sel + ` WHERE account_id = ? AND (` + strings.Join(t.Keys, ", ") + `) IN (VALUES ` + tuple + strings.Repeat(", "+tuple, len(batch)-1) + `)`
		if len(t.Keys) == 1 {
			q = sel + ` WHERE account_id = ? AND ` + t.Keys[0] + ` IN (?` + strings.Repeat(", ?", len(batch)-1) + `)`
		}
		res, err := p.s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for res.Next() {
			keys := make([]string, len(t.Keys))
			var o oldRow
			o.vals = make([]any, len(t.Columns))
			ptrs := make([]any, 0, len(keys)+2+len(o.vals))
			for i := range keys {
				ptrs = append(ptrs, &keys[i])
			}
			ptrs = append(ptrs, &o.hash, &o.deleted)
			for i := range o.vals {
				ptrs = append(ptrs, &o.vals[i])
			}
			if err := res.Scan(ptrs...); err != nil {
				res.Close()
				return nil, err
			}
			out[seenKey(t, keys)] = o
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addChanged stages rows Diff found changed or tombstoned, with their
// updated or restored events, and counts them into c.
func (p *txBatch) addChanged(ctx context.Context, rows []schema.Row, baseline bool, tally tallier) error {
	byTable := map[*schema.Table][]schema.Row{}
	var order []*schema.Table
	for _, r := range rows {
		if _, ok := byTable[r.Table()]; !ok {
			order = append(order, r.Table())
		}
		byTable[r.Table()] = append(byTable[r.Table()], r)
	}
	for _, t := range order {
		olds, err := p.readOld(ctx, t, byTable[t])
		if err != nil {
			return fmt.Errorf("read %s: %w", t.Name, err)
		}
		for _, r := range byTable[t] {
			op, err := p.change(ctx, r, olds, baseline)
			if err != nil {
				return err
			}
			tally(t, op, 1)
		}
	}
	return nil
}

// change stages one changed row against its stored version.
func (p *txBatch) change(ctx context.Context, r schema.Row, olds map[string]oldRow, baseline bool) (string, error) {
	t := r.Table()
	keys, vals := r.KeyValues(), r.Values()
	sk := seenKey(t, keys)
	if p.written.has(sk) {
		return opUnchanged, nil
	}
	old, ok := olds[sk]
	if !ok {
		return opCreated, p.addNew(ctx, r, baseline)
	}
	hash := rowHash(vals, r.Remote())
	if old.hash == hash && !old.deleted {
		return opUnchanged, nil
	}
	p.wrote(sk, t)
	changes := map[string]any{}
	sinceChanged := false
	for i, c := range t.Columns {
		o, n := norm(old.vals[i]), norm(vals[i])
		if fmt.Sprint(o) != fmt.Sprint(n) || (o == nil) != (n == nil) {
			changes[c] = map[string]any{"old": o, "new": n}
			if c == t.SinceOf {
				sinceChanged = true
			}
		}
	}
	args := make([]any, 0, len(vals)+len(keys)+9)
	args = append(args, p.account)
	for _, k := range keys {
		args = append(args, k)
	}
	args = append(args, vals...)
	// updated_at marks the last real change: a change of remote_data alone
	// (a field the mirror does not map) keeps it (NULL keeps the stored one).
	var updated, since any
	if len(changes) > 0 || old.deleted {
		updated = p.at
	}
	if t.SinceColumn != "" && (sinceChanged || old.deleted) {
		since = p.at
	}
	args = append(args, hash, string(r.Remote()), nil, updated)
	if t.SinceColumn != "" {
		args = append(args, since)
	}
	args = append(args, p.sec.id, "changed")
	if err := p.stage(ctx, "stage_"+t.Name, stageCols(t), args...); err != nil {
		return "", err
	}
	p.sec.use(t).changed++
	op := opUpdated
	if old.deleted {
		op = opRestored
	}
	if len(changes) > 0 || old.deleted {
		p.note(PlannedChange{Op: op, Table: t.Name, Key: strings.Join(keys, "/"), Fields: changes})
	}
	if baseline || (len(changes) == 0 && !old.deleted) {
		return op, nil
	}
	return op, p.event(ctx, t, keys, op, changes)
}

// addStaged plans a staged scope's rows: new ones as they are, changed ones
// against their stored version.
func (p *txBatch) addStaged(ctx context.Context, st *Staged, baseline bool, tally tallier) error {
	for t, n := range st.Unchanged {
		tally(t, opUnchanged, n)
	}
	if st.New != nil {
		err := st.New(func(r schema.Row) error {
			if p.written.has(seenKey(r.Table(), r.KeyValues())) {
				tally(r.Table(), opUnchanged, 1)
				return nil
			}
			tally(r.Table(), opCreated, 1)
			return p.addNew(ctx, r, baseline)
		})
		if err != nil {
			return err
		}
	}
	if st.Changed == nil {
		return nil
	}
	// Changed rows are read back in batches for their old values.
	var batch []schema.Row
	err := st.Changed(func(r schema.Row) error {
		batch = append(batch, r)
		if len(batch) == diffBatch {
			err := p.addChanged(ctx, batch, baseline, tally)
			batch = batch[:0]
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return p.addChanged(ctx, batch, baseline, tally)
}
