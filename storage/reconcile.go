package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tursync/tursync/schema"
)

// Scope statuses, as sync_scopes records them.
const (
	StatusComplete    = "complete"
	StatusFailed      = "failed"
	StatusUnavailable = "unavailable"
	StatusGuarded     = "guarded"
)

// Guard is the delete guard of PRODUCT.md: a complete scope that would
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
	Rows  *Staged
	Users []schema.User
	Audit []schema.AuditLog
	Usage *StagedUsage

	// Results, filled by ApplyOrg.
	Counts      Counts
	DeletesHeld int
}

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
	// DryRun computes the counts and rolls everything back.
	DryRun bool
}

// ApplyOrg writes one org's pass in one transaction: a reader sees the org
// before or after the pass, never in between. Failed and unavailable scopes
// write nothing but their sync_scopes record. On a mirror error nothing of
// the org is written and the error is returned.
func (s *Store) ApplyOrg(ctx context.Context, p *OrgPass) error {
	return explainWrite(s.applyOrg(ctx, p))
}

func (s *Store) applyOrg(ctx context.Context, p *OrgPass) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply org %s: begin: %w", p.Org, err)
	}
	defer tx.Rollback()
	w := &writer{tx: tx, s: s, account: p.Account, runID: p.RunID, at: s.ts(s.now()), stmts: map[string]*sql.Stmt{}}
	defer w.close()
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS seen (k TEXT PRIMARY KEY)`); err != nil {
		return fmt.Errorf("apply org %s: seen table: %w", p.Org, err)
	}
	if p.Offboard {
		if err := w.offboard(ctx, p); err != nil {
			return fmt.Errorf("offboard org %s: %w", p.Org, err)
		}
	}
	for _, sc := range p.Scopes {
		if !p.Offboard && sc.Status == StatusComplete {
			if err := w.applyScope(ctx, p, sc); err != nil {
				return fmt.Errorf("apply org %s %s: %w", p.Org, sc.Resource, err)
			}
		}
		if p.DryRun {
			continue
		}
		if err := w.recordScope(ctx, p.Org, sc); err != nil {
			return fmt.Errorf("apply org %s: record scope: %w", p.Org, err)
		}
	}
	if p.DryRun {
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply org %s: commit: %w", p.Org, err)
	}
	return nil
}

type writer struct {
	tx      *sql.Tx
	s       *Store
	account string
	runID   int64
	at      string
	stmts   map[string]*sql.Stmt
}

func (w *writer) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

func (w *writer) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	st, err := w.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	w.stmts[q] = st
	return st, nil
}

func (w *writer) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// baseline reports whether this is the scope's first complete pass, which
// writes rows but no per-row change events.
func (w *writer) baseline(ctx context.Context, org, resource string) (bool, error) {
	var n int
	err := w.tx.QueryRowContext(ctx, `SELECT count(*) FROM sync_scopes WHERE account_id = ? AND organization_id = ? AND resource = ? AND status IN ('complete', 'guarded')`,
		w.account, org, resource).Scan(&n)
	return n == 0, err
}

// tablesOf lists the tables a scope feeds and the extra filter that picks the
// scope's own rows in a shared table.
type feed struct {
	t      *schema.Table
	filter string // extra SQL condition on the table's rows
	guard  bool   // counts toward the delete guard
}

func feedsOf(resource string) []feed {
	switch resource {
	case schema.ResOrganization:
		return []feed{{t: schema.Organizations, guard: true}}
	case schema.ResMembers:
		return []feed{{t: schema.RoleAssignments, filter: "source = 'members'", guard: true}}
	case schema.ResInvites:
		return []feed{{t: schema.Invites, guard: true}, {t: schema.RoleAssignments, filter: "source = 'invites'"}}
	case schema.ResDatabases:
		return []feed{{t: schema.Databases, guard: true}}
	case schema.ResGroups:
		return []feed{{t: schema.Groups, guard: true}}
	case schema.ResAPITokens:
		return []feed{{t: schema.APITokens, guard: true}}
	}
	return nil
}

func (w *writer) applyScope(ctx context.Context, p *OrgPass, sc *Scope) error {
	baseline, err := w.baseline(ctx, p.Org, sc.Resource)
	if err != nil {
		return err
	}
	switch sc.Resource {
	case schema.ResAuditLogs:
		return w.applyAudit(ctx, sc)
	case schema.ResUsage:
		return w.applyUsage(ctx, sc)
	}
	if _, err := w.tx.ExecContext(ctx, `DELETE FROM temp.seen`); err != nil {
		return err
	}
	for _, u := range sc.Users {
		// Users are account-wide and never tombstoned by one org's scope;
		// their status is settled once the account's pass is over.
		if _, err := w.upsert(ctx, u, baseline); err != nil {
			return err
		}
	}
	if sc.Rows != nil {
		if err := w.applyStaged(ctx, sc, sc.Rows, baseline); err != nil {
			return err
		}
	}
	return w.tombstoneMissing(ctx, p, sc, baseline)
}

func (c *Counts) count(op string) {
	switch op {
	case opCreated, opRestored:
		c.Created++
	case opUpdated:
		c.Updated++
	case opDeleted:
		c.Deleted++
	default:
		c.Unchanged++
	}
}

const (
	opCreated   = "created"
	opUpdated   = "updated"
	opDeleted   = "deleted"
	opRestored  = "restored"
	opUnchanged = "unchanged"
)

func seenKey(t *schema.Table, keys []string) string {
	return t.Name + "\x00" + strings.Join(keys, "\x00")
}

func keyWhere(t *schema.Table) string {
	parts := []string{"account_id = ?"}
	for _, k := range t.Keys {
		parts = append(parts, k+" = ?")
	}
	return strings.Join(parts, " AND ")
}

func (w *writer) keyArgs(keys []string) []any {
	args := make([]any, 0, len(keys)+1)
	args = append(args, w.account)
	for _, k := range keys {
		args = append(args, k)
	}
	return args
}

// rowHash hashes a row's mapped content and remote data.
func rowHash(vals []any, remote []byte) string {
	h := sha256.New()
	b, _ := json.Marshal(vals)
	h.Write(b)
	h.Write([]byte{0})
	h.Write(remote)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// upsert writes one entity row if it is new, changed or tombstoned, and
// leaves it alone otherwise.
func (w *writer) upsert(ctx context.Context, r schema.Row, baseline bool) (string, error) {
	t := r.Table()
	keys := r.KeyValues()
	vals := r.Values()
	hash := rowHash(vals, r.Remote())
	// One read per row: the hash decides, the old values feed the diff.
	q := `SELECT content_hash, deleted_at IS NOT NULL, ` + strings.Join(t.Columns, ", ") + ` FROM ` + t.Quoted() + ` WHERE ` + keyWhere(t)
	st, err := w.stmt(ctx, q)
	if err != nil {
		return "", err
	}
	var oldHash string
	var deleted bool
	old := make([]any, len(t.Columns))
	ptrs := append([]any{&oldHash, &deleted}, make([]any, len(old))...)
	for i := range old {
		ptrs[i+2] = &old[i]
	}
	err = st.QueryRowContext(ctx, w.keyArgs(keys)...).Scan(ptrs...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return opCreated, w.insert(ctx, t, keys, vals, r.Remote(), hash, baseline)
	case err != nil:
		return "", err
	case oldHash == hash && !deleted:
		return opUnchanged, nil
	}
	return w.update(ctx, t, keys, old, vals, r.Remote(), hash, deleted, baseline)
}

func (w *writer) insert(ctx context.Context, t *schema.Table, keys []string, vals []any, remote []byte, hash string, baseline bool) error {
	cols := append(append([]string{"account_id"}, t.Keys...), t.Columns...)
	cols = append(cols, "content_hash", "remote_data", "first_seen_at", "updated_at")
	args := append(w.keyArgs(keys), vals...)
	args = append(args, hash, string(remote), w.at, w.at)
	if t.SinceColumn != "" {
		cols = append(cols, t.SinceColumn)
		args = append(args, w.at)
	}
	q := `INSERT INTO ` + t.Quoted() + ` (` + strings.Join(cols, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(cols)-1) + `)`
	if _, err := w.exec(ctx, q, args...); err != nil {
		return err
	}
	if baseline {
		return nil
	}
	changes := map[string]any{}
	for i, c := range t.Columns {
		changes[c] = map[string]any{"old": nil, "new": norm(vals[i])}
	}
	return w.event(ctx, t, keys, opCreated, changes)
}

func (w *writer) update(ctx context.Context, t *schema.Table, keys []string, old, vals []any, remote []byte, hash string, wasDeleted, baseline bool) (string, error) {
	changes := map[string]any{}
	sinceChanged := false
	for i, c := range t.Columns {
		o, n := norm(old[i]), norm(vals[i])
		if fmt.Sprint(o) != fmt.Sprint(n) || (o == nil) != (n == nil) {
			changes[c] = map[string]any{"old": o, "new": n}
			if c == t.SinceOf {
				sinceChanged = true
			}
		}
	}
	sets := make([]string, 0, len(t.Columns)+5)
	for _, c := range t.Columns {
		sets = append(sets, c+" = ?")
	}
	sets = append(sets, "content_hash = ?", "remote_data = ?", "deleted_at = NULL", "deleted_reason = NULL")
	args := append([]any{}, vals...)
	args = append(args, hash, string(remote))
	// updated_at marks the last real change: a change of remote_data alone
	// (a field the mirror does not map) keeps it.
	if len(changes) > 0 || wasDeleted {
		sets = append(sets, "updated_at = ?")
		args = append(args, w.at)
	}
	if t.SinceColumn != "" && (sinceChanged || wasDeleted) {
		sets = append(sets, t.SinceColumn+" = ?")
		args = append(args, w.at)
	}
	args = append(args, w.keyArgs(keys)...)
	if _, err := w.exec(ctx, `UPDATE `+t.Quoted()+` SET `+strings.Join(sets, ", ")+` WHERE `+keyWhere(t), args...); err != nil {
		return "", err
	}
	op := opUpdated
	if wasDeleted {
		op = opRestored
	}
	if baseline || (len(changes) == 0 && !wasDeleted) {
		return op, nil
	}
	return op, w.event(ctx, t, keys, op, changes)
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

func (w *writer) event(ctx context.Context, t *schema.Table, keys []string, op string, changes map[string]any) error {
	b, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	var org any
	for i, k := range t.Keys {
		if k == "organization_id" {
			org = keys[i]
		}
	}
	if t == schema.Organizations {
		org = keys[0]
	}
	_, err = w.exec(ctx, `INSERT INTO change_events (account_id, run_id, at, entity, entity_id, organization_id, op, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		w.account, w.runID, w.at, t.Name, strings.Join(keys, "/"), org, op, string(b))
	return err
}

// orgFilter is the condition that picks an org's rows of t.
func orgFilter(t *schema.Table) string {
	if t == schema.Organizations {
		return "id = ?"
	}
	return "organization_id = ?"
}

// tombstoneMissing tombstones the scope's live rows the fetch did not return,
// unless the delete guard trips.
func (w *writer) tombstoneMissing(ctx context.Context, p *OrgPass, sc *Scope, baseline bool) error {
	var feeds []feed
	var live int
	for _, f := range feedsOf(sc.Resource) {
		if f.filter == "" && sc.Rows != nil && sc.Rows.Fetched != nil {
			// The fetched rows are all live now; when they are all the
			// live rows, nothing is missing.
			n, err := w.countLive(ctx, f, p.Org)
			if err != nil {
				return err
			}
			if n == sc.Rows.Fetched[f.t] {
				if f.guard {
					live = n
				}
				continue
			}
		}
		feeds = append(feeds, f)
	}
	if len(feeds) == 0 {
		return nil
	}
	if sc.Rows != nil {
		if err := w.markSeen(ctx, sc.Rows.Keys); err != nil {
			return err
		}
	}
	var toDelete int
	for _, f := range feeds {
		if !f.guard {
			continue
		}
		cond := w.liveCond(f)
		if err := w.tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(`+w.missing(f.t)+`), 0) FROM `+f.t.Quoted()+` WHERE `+cond,
			w.account, p.Org).Scan(&live, &toDelete); err != nil {
			return err
		}
	}
	if toDelete > 0 && !p.ForceDeletes && p.Guard.trips(toDelete, live) {
		sc.Status = StatusGuarded
		sc.DeletesHeld = toDelete
		return nil
	}
	for _, f := range feeds {
		n, err := w.tombstone(ctx, f, p.Org, "", baseline)
		if err != nil {
			return err
		}
		sc.Counts.Deleted += n
	}
	return nil
}

func (w *writer) countLive(ctx context.Context, f feed, org string) (int, error) {
	var n int
	err := w.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+f.t.Quoted()+` WHERE `+w.liveCond(f), w.account, org).Scan(&n)
	return n, err
}

func (w *writer) liveCond(f feed) string {
	cond := "account_id = ? AND " + orgFilter(f.t) + " AND deleted_at IS NULL"
	if f.filter != "" {
		cond += " AND " + f.filter
	}
	return cond
}

// missing is an SQL expression, 1 when the row's key is not in temp.seen.
func (w *writer) missing(t *schema.Table) string {
	return `(NOT EXISTS (SELECT 1 FROM temp.seen WHERE k = ` + seenExpr(t) + `))`
}

func seenExpr(t *schema.Table) string {
	parts := []string{"'" + t.Name + "'"}
	parts = append(parts, t.Keys...)
	return strings.Join(parts, " || char(0) || ")
}

// tombstone marks the feed's live rows missing from temp.seen (or all of
// them when reason is organization_removed) and writes their events.
func (w *writer) tombstone(ctx context.Context, f feed, org, reason string, baseline bool) (int, error) {
	t := f.t
	cond := w.liveCond(f)
	if reason == "" {
		cond += " AND " + w.missing(t)
	}
	reasonExpr := "'removed'"
	switch {
	case reason != "":
		reasonExpr = "'" + reason + "'"
	case t == schema.Invites:
		reasonExpr = `CASE WHEN EXISTS (` + memberWithEmail("invites", `invites.email`) + `) THEN 'accepted' ELSE 'revoked' END`
	case t == schema.RoleAssignments && f.filter == "source = 'invites'":
		reasonExpr = `CASE WHEN EXISTS (` + memberWithEmail("role_assignments", `(SELECT u2.email FROM users u2 WHERE u2.account_id = role_assignments.account_id AND u2.id = role_assignments.user_id)`) + `) THEN 'accepted' ELSE 'revoked' END`
	}
	rows, err := w.tx.QueryContext(ctx, `SELECT `+strings.Join(t.Keys, ", ")+`, `+reasonExpr+` FROM `+t.Quoted()+` WHERE `+cond, w.account, org)
	if err != nil {
		return 0, err
	}
	type del struct {
		keys   []string
		reason string
	}
	var dels []del
	for rows.Next() {
		keys := make([]string, len(t.Keys))
		ptrs := make([]any, len(keys)+1)
		for i := range keys {
			ptrs[i] = &keys[i]
		}
		var why string
		ptrs[len(keys)] = &why
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return 0, err
		}
		dels = append(dels, del{keys, why})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, d := range dels {
		if _, err := w.exec(ctx, `UPDATE `+t.Quoted()+` SET deleted_at = ?, deleted_reason = ?, updated_at = ? WHERE `+keyWhere(t),
			append([]any{w.at, d.reason, w.at}, w.keyArgs(d.keys)...)...); err != nil {
			return 0, err
		}
		if !baseline {
			if err := w.event(ctx, t, d.keys, opDeleted, map[string]any{"deleted_reason": map[string]any{"old": nil, "new": d.reason}}); err != nil {
				return 0, err
			}
		}
	}
	return len(dels), nil
}

// memberWithEmail selects a live membership, in the same org, of a user with
// the given email: the sign that a vanished invite was accepted.
func memberWithEmail(outer, emailExpr string) string {
	return `SELECT 1 FROM role_assignments m JOIN users mu ON mu.account_id = m.account_id AND mu.id = m.user_id
		WHERE m.account_id = ` + outer + `.account_id AND m.organization_id = ` + outer + `.organization_id AND m.source = 'members' AND m.deleted_at IS NULL AND mu.email = ` + emailExpr
}

func (w *writer) applyAudit(ctx context.Context, sc *Scope) error {
	for _, a := range sc.Audit {
		res, err := w.exec(ctx, `INSERT OR IGNORE INTO audit_logs (account_id, organization_id, id, code, message, origin, author, created_at, data, remote_data, first_seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			w.account, a.OrganizationID, a.ID, a.Code, a.Message, a.Origin, a.Author, a.CreatedAt, a.Data, string(a.RemoteData), w.at)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			sc.Counts.Created++
		} else {
			sc.Counts.Unchanged++
		}
	}
	return nil
}

// UsageIter yields usage rows one at a time.
type UsageIter func(yield func(schema.Usage) error) error

// StagedUsage is a usage scope after DiffUsage: the rows to insert, those
// whose counters changed, and how many are unchanged.
type StagedUsage struct {
	New, Changed UsageIter
	Unchanged    int
}

// usageBatch is how many usage rows one insert carries.
const usageBatch = 500

// applyUsage writes the day's staged usage counters: new rows many per
// insert (a row written since the diff fails the org, like entity rows),
// changed counters one update each.
func (w *writer) applyUsage(ctx context.Context, sc *Scope) error {
	st := sc.Usage
	if st == nil {
		return nil
	}
	sc.Counts.Unchanged += st.Unchanged
	const tuple = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	args := make([]any, 0, usageBatch*10)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		if _, err := w.exec(ctx, `INSERT INTO usage (account_id, organization_id, day, database_id, rows_read, rows_written, storage_bytes, bytes_synced, observed_at, remote_data)
			VALUES `+tuple+strings.Repeat(", "+tuple, len(args)/10-1), args...); err != nil {
			return insertErr("usage", err)
		}
		sc.Counts.Created += len(args) / 10
		args = args[:0]
		return nil
	}
	if st.New != nil {
		err := st.New(func(u schema.Usage) error {
			args = append(args, w.account, u.OrganizationID, u.Day, u.DatabaseID, u.RowsRead, u.RowsWritten, u.StorageBytes, u.BytesSynced, w.at, string(u.RemoteData))
			if len(args) == usageBatch*10 {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
	}
	if st.Changed == nil {
		return nil
	}
	return st.Changed(func(u schema.Usage) error {
		if _, err := w.exec(ctx, `UPDATE usage SET rows_read = ?, rows_written = ?, storage_bytes = ?, bytes_synced = ?, observed_at = ?, remote_data = ?
			WHERE account_id = ? AND organization_id = ? AND day = ? AND database_id = ?`,
			u.RowsRead, u.RowsWritten, u.StorageBytes, u.BytesSynced, w.at, string(u.RemoteData), w.account, u.OrganizationID, u.Day, u.DatabaseID); err != nil {
			return err
		}
		sc.Counts.Updated++
		return nil
	})
}

func (w *writer) recordScope(ctx context.Context, org string, sc *Scope) error {
	_, err := w.exec(ctx, `INSERT INTO sync_scopes (run_id, account_id, organization_id, resource, status, error_class, error,
		rows_created, rows_updated, rows_deleted, rows_unchanged, deletes_held, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.runID, w.account, org, sc.Resource, sc.Status, nullStr(sc.ErrorClass), nullStr(sc.Error),
		sc.Counts.Created, sc.Counts.Updated, sc.Counts.Deleted, sc.Counts.Unchanged, sc.DeletesHeld,
		w.s.ts(sc.StartedAt), w.s.ts(sc.FinishedAt))
	return err
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// offboard tombstones every live row of a vanished org, subject to the guard.
func (w *writer) offboard(ctx context.Context, p *OrgPass) error {
	sc := &Scope{Resource: schema.ResOrganization, Status: StatusComplete, StartedAt: w.s.now(), FinishedAt: w.s.now()}
	p.Scopes = []*Scope{sc}
	var total int
	for _, t := range schema.OrgTables {
		var n int
		if err := w.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.Quoted()+` WHERE `+w.liveCond(feed{t: t}), w.account, p.Org).Scan(&n); err != nil {
			return err
		}
		total += n
	}
	// Every row goes, so the fraction is always 1: only a small org or an
	// operator's --force-deletes lets it through.
	if !p.ForceDeletes && p.Guard.trips(total, total) {
		sc.Status = StatusGuarded
		sc.DeletesHeld = total
		return nil
	}
	for _, t := range schema.OrgTables {
		n, err := w.tombstone(ctx, feed{t: t}, p.Org, "organization_removed", false)
		if err != nil {
			return err
		}
		sc.Counts.Deleted += n
	}
	return nil
}
