package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tursync/tursync/schema"
)

// The mirror's vocabulary, in one place: the statuses sync_scopes,
// sync_runs, extract_runs and extract_status record, and the error class
// the mirror itself causes (the Platform API's classes are turso.Class).
const (
	// Scope statuses (sync_scopes), and a pass's too (sync_runs).
	StatusComplete    = "complete"
	StatusFailed      = "failed"
	StatusUnavailable = "unavailable"
	StatusGuarded     = "guarded"
	// StatusPartial is a pass or an extraction run some of whose scopes or
	// databases failed.
	StatusPartial = "partial"
	// StatusSkipped is a pass that did not run (another process held the
	// account's lease), or a database an extraction did not query.
	StatusSkipped = "skipped"
	// StatusOK is an extraction run, or one database of it, that worked.
	StatusOK = "ok"
	// StatusInterrupted is a pass a signal or the daemon's shutdown stopped
	// (sync_runs), and a scope it stopped before the scope was written: such
	// a scope is not recorded in sync_scopes, where its last complete
	// record stands.
	StatusInterrupted = "interrupted"

	// ClassMirror is the error class of a scope the mirror failed.
	ClassMirror = "mirror"
)

// Guard is the delete guard (docs/reconcile.md, rule 4): a complete scope that would
// tombstone more than MaxFraction of its live rows, and more than MinRows
// rows, keeps them.
type Guard struct {
	MaxFraction float64
	MinRows     int
}

func (g Guard) trips(toDelete, live int) bool {
	return toDelete > g.MinRows && float64(toDelete) > g.MaxFraction*float64(live)
}

// Counts are rows written by op.
type Counts struct {
	Created, Updated, Deleted, Unchanged int
}

// Add adds c2 to c.
func (c *Counts) Add(c2 Counts) {
	c.Created += c2.Created
	c.Updated += c2.Updated
	c.Deleted += c2.Deleted
	c.Unchanged += c2.Unchanged
}

// Tally counts rows written per label (schema.Resource.LabelOf).
type Tally map[string]Counts

// add counts n rows of op under label t.
func (ta Tally) add(t string, op string, n int) {
	c := ta[t]
	c.count(op, n)
	ta[t] = c
}

// Add adds counts under a label.
func (ta Tally) Add(label string, c Counts) {
	sum := ta[label]
	sum.Add(c)
	ta[label] = sum
}

// tallier counts rows of a table by op; a batch's steps count through one.
type tallier func(t *schema.Table, op string, n int)

// RowIter yields rows one at a time so a scope of any size streams through.
type RowIter func(yield func(schema.Row) error) error

// SliceIter iterates a slice of rows.
func SliceIter[T schema.Row](rows []T) RowIter {
	return func(yield func(schema.Row) error) error {
		for _, r := range rows {
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// Scope is one resource of one org's pass, as the fetch left it.
type Scope struct {
	Resource   string
	Status     string // complete, failed or unavailable after the fetch; guarded is decided here
	ErrorClass string
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time

	// Rows are the scope's entity rows (organization, members, invites,
	// ...) staged by Diff.
	Rows *Staged
	// Users are the account-wide users the scope's rows refer to that
	// may need a write; they are diffed again at the commit, in batches,
	// since an earlier org of the pass may have written them since.
	Users RowIter
	Audit []schema.AuditLog
	Usage *StagedUsage

	// Results, filled by ApplyOrg. Counts are the rows of the resource's
	// guarded feed (what tursync_mirror_rows counts for it); Written counts
	// by label (schema.Resource.LabelOf) every feed the scope wrote: its
	// own, the others (an invite's role assignment) and the users its rows
	// refer to.
	Counts      Counts
	Written     Tally
	DeletesHeld int
	// Planned lists the row changes of a dry run, deletes the guard holds
	// included (at most PlannedLimit; PlannedMore counts the rest). A real
	// pass leaves it empty: its change_events say the same.
	Planned     []PlannedChange
	PlannedMore int
}

// PlannedChange is one row a dry run would create, update, restore or
// tombstone.
type PlannedChange struct {
	Op     string         `json:"op"` // created, updated, restored, deleted
	Table  string         `json:"table"`
	Key    string         `json:"key"`              // the row's key columns joined by "/"
	Fields map[string]any `json:"fields,omitempty"` // column -> {"old", "new"}
	// Held: a delete the guard holds back (what --force-deletes applies).
	Held bool `json:"held,omitempty"`
}

// PlannedLimit caps the changes a dry run lists per scope, so a first dry
// run of a 250,000-database org does not hold them all; the counts stay
// exact.
const PlannedLimit = 10000

// OrgPass is everything one org's pass writes.
type OrgPass struct {
	Account      string
	Org          string
	RunID        int64
	Guard        Guard
	ForceDeletes bool
	Scopes       []*Scope
	// Offboard tombstones every row of the org (reason organization_removed),
	// subject to the guard; Scopes is then ignored.
	Offboard bool
	// DryRun computes the counts and writes nothing.
	DryRun bool
	// CommitTook is how long the org's write transaction held the lock,
	// set by ApplyOrg.
	CommitTook time.Duration
	// NearTimeout says the commit, on a libSQL server, came close to the
	// server's transaction timeout (TxnWarnAfter).
	NearTimeout bool
	// TouchesUsers says the org's commit writes users or role assignments
	// (set by ApplyOrg before it commits, whether or not the commit goes
	// through): the account's users must then be settled again.
	TouchesUsers bool
}

// TxnWarnAfter is how long a commit on a libSQL server may take before the
// pass warns: sqld rolls back a transaction older than 5 s as soon as
// another writer waits.
const TxnWarnAfter = 3 * time.Second

// ApplyOrg writes one org's pass as one commit: a reader sees the org
// before or after the pass, never in between. Failed and unavailable scopes
// write nothing but their sync_scopes record. On a mirror error nothing of
// the org is written and the error is returned. Every read it needs happens
// before the commit, whose transaction holds the write lock only while the
// server copies staged rows into place (see batch).
func (s *Store) ApplyOrg(ctx context.Context, p *OrgPass) error {
	return s.explainWrite(s.applyOrg(ctx, p))
}

func (s *Store) applyOrg(ctx context.Context, p *OrgPass) error {
	pl := s.newTxBatch(p.Account, p.RunID, p.DryRun)
	defer pl.discard(ctx)
	if p.Offboard {
		if err := pl.offboard(ctx, p); err != nil {
			return fmt.Errorf("offboard org %s: %w", p.Org, err)
		}
	}
	for _, sc := range p.Scopes {
		pl.open(sc.Resource)
		pl.scope = sc
		if !p.Offboard && sc.Status == StatusComplete {
			if err := pl.applyScope(ctx, p, sc); err != nil {
				return fmt.Errorf("apply org %s %s: %w", p.Org, sc.Resource, err)
			}
		}
		pl.recordScope(p.Org, sc)
	}
	p.TouchesUsers = pl.touchesUsers
	err := pl.commit(ctx, s.fence(p.Account))
	p.CommitTook = pl.took
	p.NearTimeout = s.remote && pl.took > TxnWarnAfter
	if err != nil {
		return fmt.Errorf("apply org %s: commit: %w", p.Org, err)
	}
	return nil
}

// baseline reports whether this is the scope's first complete pass, which
// writes rows but no per-row change events.
func (p *txBatch) baseline(ctx context.Context, org, resource string) (bool, error) {
	var n int
	err := p.s.db.QueryRowContext(ctx, `SELECT count(*) FROM sync_scopes WHERE account_id = ? AND organization_id = ? AND resource = ? AND status IN ('complete', 'guarded')`,
		p.account, org, resource).Scan(&n)
	return n == 0, err
}

// feed is a table a scope feeds: the registry's facts (schema.Feed).
type feed = schema.Feed

// resourceOf is the registry's entry of a scope's resource.
func resourceOf(name string) (*schema.Resource, error) {
	r := schema.Lookup(name)
	if r == nil {
		return nil, fmt.Errorf("unknown resource %q", name)
	}
	return r, nil
}

func (p *txBatch) applyScope(ctx context.Context, op *OrgPass, sc *Scope) error {
	baseline, err := p.baseline(ctx, op.Org, sc.Resource)
	if err != nil {
		return err
	}
	res, err := resourceOf(sc.Resource)
	if err != nil {
		return err
	}
	own := res.Table().Table
	switch res.Kind {
	case schema.Appended, schema.Counters:
		// One table, counted into sc.Counts as it is written.
		if res.Kind == schema.Appended {
			err = p.applyAudit(ctx, op.Org, sc)
		} else {
			err = p.applyUsage(ctx, sc)
		}
		sc.Written = Tally{res.Name: sc.Counts}
		return err
	}
	sc.Written = Tally{}
	tally := func(t *schema.Table, op string, n int) {
		sc.Written.add(res.LabelOf(t), op, n)
		if t == own {
			sc.Counts.count(op, n)
		}
	}
	if sc.Users != nil {
		// Users are account-wide and never tombstoned by one org's scope;
		// their status is settled once the account's pass is over.
		if err := p.addUsers(ctx, sc.Users, baseline, tally); err != nil {
			return err
		}
	}
	if sc.Rows != nil {
		if err := p.addStaged(ctx, sc.Rows, baseline, tally); err != nil {
			return err
		}
	}
	p.close()
	if sc.Rows != nil && sc.Rows.Keys != nil {
		if err := p.stampRefreshed(ctx, res, sc.Rows.Keys); err != nil {
			return err
		}
	}
	if !res.Partial {
		if err := p.tombstoneMissing(ctx, op, res, sc, baseline, tally); err != nil {
			return err
		}
	}
	values := map[schema.Arg]any{schema.ArgAccount: p.account, schema.ArgOrg: op.Org, schema.ArgRunID: p.runID, schema.ArgAt: p.at}
	for _, st := range res.After {
		args := make([]any, len(st.Args))
		for i, a := range st.Args {
			args[i] = values[a]
		}
		p.add(st.SQL, args...)
	}
	return nil
}

// stampRefreshed stamps the refresh time of every row the scope fetched in
// the tables that keep one.
func (p *txBatch) stampRefreshed(ctx context.Context, res *schema.Resource, keys KeyIter) error {
	for _, f := range res.Feeds {
		t := f.Table
		if t.RefreshedColumn == "" {
			continue
		}
		sid := p.sec.id + ":refreshed:" + t.Name
		err := keys(func(kt *schema.Table, k []string) error {
			if kt != t {
				return nil
			}
			return p.stageKey(ctx, sid, k)
		})
		if err != nil {
			return err
		}
		p.add(`UPDATE `+t.Quoted()+` SET `+t.RefreshedColumn+` = ? WHERE account_id = ? AND `+keyTuple(t)+` IN (`+stagedKeys(t)+`)`, p.at, p.account, sid)
	}
	return nil
}

// stageKey stages one row's key under sid, for a statement of the commit
// to pick the rows by (stagedKeys).
func (p *txBatch) stageKey(ctx context.Context, sid string, k []string) error {
	k2 := ""
	if len(k) > 1 {
		k2 = k[1]
	}
	return p.stage(ctx, "stage_keys", []string{"stage_id", "account_id", "k1", "k2"}, sid, p.account, k[0], k2)
}

// stagedKeys selects the keys staged under a stage id, as t's key tuple.
func stagedKeys(t *schema.Table) string {
	if len(t.Keys) > 1 {
		return `SELECT k1, k2 FROM stage_keys WHERE stage_id = ?`
	}
	return `SELECT k1 FROM stage_keys WHERE stage_id = ?`
}

// addUsers diffs a scope's users against the mirror as it is now, a batch
// at a time, and plans those to write.
func (p *txBatch) addUsers(ctx context.Context, users RowIter, baseline bool, tally tallier) error {
	batch := make([]schema.Row, 0, diffBatch)
	flush := func() error {
		st, err := p.s.Stage(ctx, p.account, batch)
		if err != nil {
			return err
		}
		batch = batch[:0]
		return p.addStaged(ctx, st, baseline, tally)
	}
	err := users(func(r schema.Row) error {
		batch = append(batch, r)
		if len(batch) == diffBatch {
			return flush()
		}
		return nil
	})
	if err != nil || len(batch) == 0 {
		return err
	}
	return flush()
}

// tally counts rows whatever their table: a tallier for steps that write
// one table.
func (c *Counts) tally(_ *schema.Table, op string, n int) { c.count(op, n) }

// count adds n rows of op.
func (c *Counts) count(op string, n int) {
	switch op {
	case opCreated, opRestored:
		c.Created += n
	case opUpdated:
		c.Updated += n
	case opDeleted:
		c.Deleted += n
	default:
		c.Unchanged += n
	}
}

const (
	opCreated   = "created"
	opUpdated   = "updated"
	opDeleted   = "deleted"
	opRestored  = "restored"
	opUnchanged = "unchanged"
)

// seenKey identifies a row within one org's batch, scope or fetch: a byte
// for its table and its key columns but the org, which is the same for
// all. A million role assignments are remembered in 11 bytes each, not 34.
func seenKey(t *schema.Table, keys []string) string {
	if len(keys) > 1 && t.Keys[0] == "organization_id" {
		keys = keys[1:]
	}
	tag, ok := tableTags[t]
	if !ok {
		return t.Name + "\x00" + strings.Join(keys, "\x00")
	}
	return string(rune(tag)) + strings.Join(keys, "\x00")
}

// tableTags are the one-byte table markers of seenKey (control bytes, so
// no table name, the fallback, starts with one).
var tableTags = func() map[*schema.Table]byte {
	tags := map[*schema.Table]byte{}
	for i, t := range schema.EntityTables {
		tags[t] = byte(i + 1)
	}
	return tags
}()

// rowHash hashes a row's mapped content and remote data, as stored in
// content_hash: the hex of rowSum.
func rowHash(vals []any, remote []byte) string {
	sum := rowSum(vals, remote)
	return hex.EncodeToString(sum[:])
}

// rowSum is the first 16 bytes of the SHA-256 of the values as
// encoding/json encodes them (every stored content_hash depends on those
// exact bytes), a zero byte, and the remote data. Snapshots compare it as
// it is, with no hex round trip per row.
func rowSum(vals []any, remote []byte) [16]byte {
	var buf [512]byte
	b, ok := appendValues(buf[:0], vals)
	if !ok {
		b, _ = json.Marshal(vals)
	}
	b = append(b, 0)
	b = append(b, remote...)
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}

// appendValues appends vals as json.Marshal encodes them, for the values
// rows are made of (plain strings, integers, nil) at a tenth of its cost;
// ok is false for anything else (a string that needs escaping, another
// type), which the caller hands to json.Marshal.
func appendValues(b []byte, vals []any) ([]byte, bool) {
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		switch x := v.(type) {
		case string:
			var ok bool
			if b, ok = appendString(b, x); !ok {
				return b, false
			}
		case int64:
			b = strconv.AppendInt(b, x, 10)
		case int:
			b = strconv.AppendInt(b, int64(x), 10)
		case nil:
			b = append(b, "null"...)
		default:
			return b, false
		}
	}
	return append(b, ']'), true
}

// appendString appends s quoted as encoding/json quotes it, for s of
// printable ASCII (a database's regions list is JSON text, full of quotes);
// ok is false for anything else.
func appendString(b []byte, s string) ([]byte, bool) {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e:
			return b, false
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '<':
			b = append(b, `\u003c`...)
		case c == '>':
			b = append(b, `\u003e`...)
		case c == '&':
			b = append(b, `\u0026`...)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"'), true
}

// norm makes a scanned or mapped value comparable and JSON-friendly.
func norm(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case int:
		return int64(x)
	}
	return v
}

// liveCond is the condition that picks the feed's live rows of an org, and
// its arguments: the account's rows of an account-wide table.
func liveCond(f feed, account, org string) (string, []any) {
	cond, args := "account_id = ?", []any{account}
	if c := f.Table.OrgColumn; c != "" {
		cond, args = cond+" AND "+c+" = ?", append(args, org)
	}
	cond += " AND deleted_at IS NULL"
	if f.Filter != "" {
		cond += " AND " + f.Filter
	}
	return cond, args
}

// tombstoneMissing tombstones the scope's live rows the fetch did not return,
// unless the delete guard trips.
func (p *txBatch) tombstoneMissing(ctx context.Context, op *OrgPass, res *schema.Resource, sc *Scope, baseline bool, tally tallier) error {
	type gone struct {
		f    feed
		keys [][]string
	}
	var dels []gone
	var toDelete, live int
	for _, f := range res.Feeds {
		keys, err := p.missing(ctx, f, op.Org, sc.Rows)
		if err != nil {
			return err
		}
		if f.Guard {
			// Every fetched row is live after the commit; with the missing
			// ones, that is every live row of the feed.
			toDelete, live = len(keys), len(keys)
			if sc.Rows != nil {
				live += sc.Rows.Fetched[f.Table]
			}
		}
		if len(keys) > 0 {
			dels = append(dels, gone{f, keys})
		}
	}
	held := toDelete > 0 && !op.ForceDeletes && op.Guard.trips(toDelete, live)
	if p.dry {
		for _, d := range dels {
			for _, k := range d.keys {
				p.note(PlannedChange{Op: opDeleted, Table: d.f.Table.Name, Key: strings.Join(k, "/"), Held: held})
			}
		}
	}
	if held {
		sc.Status = StatusGuarded
		sc.DeletesHeld = toDelete
		return nil
	}
	for _, d := range dels {
		if err := p.tombstoneKeys(ctx, d.f, d.keys, baseline); err != nil {
			return err
		}
		tally(d.f.Table, opDeleted, len(d.keys))
	}
	return nil
}

// missing lists the feed's live rows of the org that the fetch did not
// return and that no scope of this batch writes.
func (p *txBatch) missing(ctx context.Context, f feed, org string, st *Staged) ([][]string, error) {
	if st != nil && st.allFetched != nil && *st.allFetched == f {
		return nil, nil
	}
	if f.Filter == "" && st != nil && st.Fetched != nil {
		// Only this scope writes the table in this org: after the commit
		// its live rows are those live now plus the ones it adds; when
		// they number the fetched rows, none is missing.
		var n int
		cond, args := liveCond(f, p.account, org)
		if err := p.s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+f.Table.Quoted()+` WHERE `+cond, args...).Scan(&n); err != nil {
			return nil, err
		}
		if n+st.Added[f.Table] <= st.Fetched[f.Table] {
			return nil, nil
		}
	}
	fetched := newKeySet()
	if st != nil && st.Keys != nil {
		err := st.Keys(func(t *schema.Table, keys []string) error {
			if t == f.Table {
				fetched.add(seenKey(t, keys))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var out [][]string
	err := p.s.liveKeys(ctx, f, p.account, org, func(keys []string) {
		sk := seenKey(f.Table, keys)
		if !fetched.has(sk) && !p.written.has(sk) {
			out = append(out, keys)
		}
	})
	return out, err
}

// liveKeyPage bounds one read of live keys, so a remote mirror's response
// stays far below its size cap.
const liveKeyPage = 20000

// liveKeys yields the keys of the feed's live rows of an org, page by page
// in key order.
func (s *Store) liveKeys(ctx context.Context, f feed, account, org string, fn func([]string)) error {
	t := f.Table
	last := ""
	for {
		cond, args := liveCond(f, account, org)
		q := `SELECT ` + strings.Join(t.Keys, ", ") + ` FROM ` + t.Quoted() + ` WHERE ` + cond
		lastKey := t.Keys[len(t.Keys)-1]
		if last != "" {
			q += ` AND ` + lastKey + ` > ?`
			args = append(args, last)
		}
		q += ` ORDER BY ` + lastKey + ` LIMIT ` + fmt.Sprint(liveKeyPage)
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			keys := make([]string, len(t.Keys))
			ptrs := make([]any, len(keys))
			for i := range keys {
				ptrs[i] = &keys[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return err
			}
			fn(keys)
			last = keys[len(keys)-1]
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n < liveKeyPage {
			return nil
		}
	}
}

// reasonExpr is the SQL that says why a vanished row of f is tombstoned.
func reasonExpr(f feed) string {
	if f.Vanish != schema.AcceptedOrRevoked {
		return "'removed'"
	}
	// The invite's email: its own column, or its user's for the role
	// assignment it implied.
	t := f.Table.Name
	email := t + `.email`
	if !slices.Contains(f.Table.Columns, "email") {
		email = `(SELECT u2.email FROM users u2 WHERE u2.account_id = ` + t + `.account_id AND u2.id = ` + t + `.user_id)`
	}
	return `CASE WHEN EXISTS (` + memberWithEmail(t, email) + `) THEN 'accepted' ELSE 'revoked' END`
}

// memberWithEmail selects a live membership, in the same org, of a user with
// the given email: the sign that a vanished invite was accepted.
func memberWithEmail(outer, emailExpr string) string {
	return `SELECT 1 FROM role_assignments m JOIN users mu ON mu.account_id = m.account_id AND mu.id = m.user_id
		WHERE m.account_id = ` + outer + `.account_id AND m.organization_id = ` + outer + `.organization_id AND m.source = 'members' AND m.deleted_at IS NULL AND mu.email = ` + emailExpr
}

// keyTuple is the key columns of t as a row value.
func keyTuple(t *schema.Table) string {
	if len(t.Keys) == 1 {
		return t.Keys[0]
	}
	return "(" + strings.Join(t.Keys, ", ") + ")"
}

// entityIDExpr is the SQL of a change event's entity_id for t's rows.
func entityIDExpr(t *schema.Table) string {
	return strings.Join(t.Keys, " || '/' || ")
}

// eventOrgExpr is the SQL of a change event's organization_id for t's rows.
func eventOrgExpr(t *schema.Table) string {
	if t.OrgColumn == "" {
		return "NULL"
	}
	return t.OrgColumn
}

// tombstoneKeys stages the keys of vanished rows and adds the statements
// that tombstone them, with the reason decided at commit time (an invite is
// accepted when the members this very commit writes include its email),
// and their deleted events.
func (p *txBatch) tombstoneKeys(ctx context.Context, f feed, keys [][]string, baseline bool) error {
	t := f.Table
	sid := p.sec.id + ":" + t.Name
	for _, k := range keys {
		if err := p.stageKey(ctx, sid, k); err != nil {
			return err
		}
	}
	in := stagedKeys(t)
	p.touchesUsers = p.touchesUsers || sharedTable(t)
	cond := `account_id = ? AND deleted_at IS NULL AND ` + keyTuple(t) + ` IN (` + in + `)`
	p.add(`UPDATE `+t.Quoted()+` SET deleted_at = ?, deleted_reason = `+reasonExpr(f)+`, updated_at = ? WHERE `+cond, p.at, p.at, p.account, sid)
	if !baseline {
		p.add(`INSERT INTO change_events (account_id, run_id, at, entity, entity_id, organization_id, op, changes)
			SELECT account_id, ?, ?, ?, `+entityIDExpr(t)+`, `+eventOrgExpr(t)+`, 'deleted', json_object('deleted_reason', json_object('new', deleted_reason, 'old', NULL))
			FROM `+t.Quoted()+` WHERE account_id = ? AND deleted_at = ? AND `+keyTuple(t)+` IN (`+in+`)`,
			p.runID, p.at, t.Name, p.account, p.at, sid)
	}
	return nil
}

func (p *txBatch) applyAudit(ctx context.Context, org string, sc *Scope) error {
	if len(sc.Audit) == 0 {
		return nil
	}
	// Overlapping pages repeat events: the content id absorbs them.
	have := map[string]bool{}
	for start := 0; start < len(sc.Audit); start += diffBatch {
		batch := sc.Audit[start:min(start+diffBatch, len(sc.Audit))]
		args := []any{p.account, org}
		for _, a := range batch {
			args = append(args, a.ID)
		}
		rows, err := p.s.db.QueryContext(ctx, `SELECT id FROM audit_logs WHERE account_id = ? AND organization_id = ? AND id IN (?`+strings.Repeat(", ?", len(batch)-1)+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			have[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	n := 0
	for _, a := range sc.Audit {
		if have[a.ID] || a.OrganizationID != org {
			sc.Counts.Unchanged++
			continue
		}
		have[a.ID] = true
		n++
		sc.Counts.Created++
		if err := p.stage(ctx, "stage_audit_logs", []string{"account_id", "organization_id", "id", "code", "message", "origin", "author", "created_at", "data", "remote_data", "first_seen_at", "stage_id"},
			p.account, a.OrganizationID, a.ID, a.Code, a.Message, a.Origin, a.Author, a.CreatedAt, a.Data, string(a.RemoteData), p.at, p.sec.id); err != nil {
			return err
		}
	}
	if n > 0 {
		const cols = "account_id, organization_id, id, code, message, origin, author, created_at, data, remote_data, first_seen_at"
		p.add(`INSERT OR IGNORE INTO audit_logs (`+cols+`) SELECT `+cols+` FROM stage_audit_logs WHERE stage_id = ?`, p.sec.id)
	}
	return nil
}

// UsageIter yields usage rows one at a time.
type UsageIter func(yield func(schema.Usage) error) error

// StagedUsage is a usage scope after its diff: the rows to insert, those
// whose counters changed, and how many are unchanged.
type StagedUsage struct {
	New, Changed UsageIter
	Unchanged    int
}

// applyUsage stages the day's new and changed usage counters.
func (p *txBatch) applyUsage(ctx context.Context, sc *Scope) error {
	st := sc.Usage
	if st == nil {
		return nil
	}
	sc.Counts.Unchanged += st.Unchanged
	cols := []string{"account_id", "organization_id", "day", "database_id", "rows_read", "rows_written", "storage_bytes", "bytes_synced", "observed_at", "remote_data", "stage_id", "stage_op"}
	for _, kind := range []struct {
		op   string
		rows UsageIter
		n    *int
	}{{"new", st.New, &sc.Counts.Created}, {"changed", st.Changed, &sc.Counts.Updated}} {
		if kind.rows == nil {
			continue
		}
		before := *kind.n
		err := kind.rows(func(u schema.Usage) error {
			*kind.n++
			return p.stage(ctx, "stage_usage", cols, p.account, u.OrganizationID, u.Day, u.DatabaseID, u.RowsRead, u.RowsWritten, u.StorageBytes, u.BytesSynced,
				p.at, string(u.RemoteData), p.sec.id, kind.op)
		})
		if err != nil {
			return err
		}
		if *kind.n == before {
			continue
		}
		if kind.op == "new" {
			c := strings.Join(cols[:10], ", ")
			p.add(`INSERT INTO usage (`+c+`) SELECT `+c+` FROM stage_usage WHERE stage_id = ? AND stage_op = 'new' ORDER BY day, database_id`, p.sec.id)
			continue
		}
		p.add(`UPDATE usage SET rows_read = s.rows_read, rows_written = s.rows_written, storage_bytes = s.storage_bytes, bytes_synced = s.bytes_synced,
				observed_at = s.observed_at, remote_data = s.remote_data
			FROM (SELECT * FROM stage_usage WHERE stage_id = ? AND stage_op = 'changed') AS s
			WHERE usage.account_id = s.account_id AND usage.organization_id = s.organization_id AND usage.day = s.day AND usage.database_id = s.database_id`, p.sec.id)
	}
	return nil
}

func (p *txBatch) recordScope(org string, sc *Scope) {
	if sc.Status == StatusInterrupted {
		return // nothing of it ran to an outcome; see StatusInterrupted
	}
	p.add(`INSERT INTO sync_scopes (run_id, account_id, organization_id, resource, status, error_class, error,
		rows_created, rows_updated, rows_deleted, rows_unchanged, deletes_held, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.runID, p.account, org, sc.Resource, sc.Status, nullStr(sc.ErrorClass), nullStr(sc.Error),
		sc.Counts.Created, sc.Counts.Updated, sc.Counts.Deleted, sc.Counts.Unchanged, sc.DeletesHeld,
		p.s.ts(sc.StartedAt), p.s.ts(sc.FinishedAt))
}

// nullInt is n, or NULL for 0.
func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// offboardCounts counts an offboarded org's live rows under the label of
// the feed each belongs to, so that the rows its offboarding deletes
// count where its resources' rows count.
func (p *txBatch) offboardCounts(ctx context.Context, org string) (Tally, error) {
	out := Tally{}
	for _, r := range schema.Registry {
		for _, f := range r.Feeds {
			if r.PerAccount || f.Table.OrgColumn == "" || f.Table.AppendOnly {
				continue
			}
			var n int
			cond, args := liveCond(f, p.account, org)
			if err := p.s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+f.Table.Quoted()+` WHERE `+cond, args...).Scan(&n); err != nil {
				return nil, err
			}
			if n > 0 {
				out.add(r.Label(f), opDeleted, n)
			}
		}
	}
	return out, nil
}

// offboard tombstones every live row of a vanished org, subject to the guard.
func (p *txBatch) offboard(ctx context.Context, op *OrgPass) error {
	sc := &Scope{Resource: schema.ResOrganization, Status: StatusComplete, StartedAt: p.s.now(), FinishedAt: p.s.now()}
	op.Scopes = []*Scope{sc}
	var total int
	for _, t := range schema.OrgTables {
		var n int
		cond, args := liveCond(feed{Table: t}, p.account, op.Org)
		if err := p.s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t.Quoted()+` WHERE `+cond, args...).Scan(&n); err != nil {
			return err
		}
		total += n
	}
	// Every row goes, so the fraction is always 1: only a small org or an
	// operator's --force-deletes lets it through.
	held := !op.ForceDeletes && op.Guard.trips(total, total)
	if p.dry && total > 0 {
		p.scope = sc
		p.note(PlannedChange{Op: opDeleted, Table: "*", Key: fmt.Sprintf("every live row of org %s (%d rows): the org vanished", op.Org, total), Held: held})
	}
	if held {
		sc.Status = StatusGuarded
		sc.DeletesHeld = total
		return nil
	}
	written, err := p.offboardCounts(ctx, op.Org)
	if err != nil {
		return err
	}
	sc.Written, sc.Counts = written, written[schema.ResOrganization]
	p.touchesUsers = p.touchesUsers || total > 0
	for _, t := range schema.OrgTables {
		cond, args := liveCond(feed{Table: t}, p.account, op.Org)
		p.add(`INSERT INTO change_events (account_id, run_id, at, entity, entity_id, organization_id, op, changes)
			SELECT account_id, ?, ?, ?, `+entityIDExpr(t)+`, `+eventOrgExpr(t)+`, 'deleted', json_object('deleted_reason', json_object('new', 'organization_removed', 'old', NULL))
			FROM `+t.Quoted()+` WHERE `+cond, append([]any{p.runID, p.at, t.Name}, args...)...)
		p.add(`UPDATE `+t.Quoted()+` SET deleted_at = ?, deleted_reason = 'organization_removed', updated_at = ? WHERE `+cond, append([]any{p.at, p.at}, args...)...)
	}
	return nil
}
