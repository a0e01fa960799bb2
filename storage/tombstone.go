package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tursync/tursync/schema"
)

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
func (p *txBatch) tombstoneMissing(ctx context.Context, op *orgCommit, res *schema.Resource, sc *Scope, baseline bool, tally tallier) error {
	type gone struct {
		f    feed
		keys [][]string
	}
	var dels []gone
	var toDelete, live int
	for _, f := range res.Feeds {
		keys, err := p.missing(ctx, f, op.org, sc.Rows)
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
	held := toDelete > 0 && !op.forceDeletes && op.guard.trips(toDelete, live)
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
	p.endVersions(t, "deleted", t.Quoted()+" r", cond, p.account, sid)
	p.add(`UPDATE `+t.Quoted()+` SET deleted_at = ?, deleted_reason = `+reasonExpr(f)+`, updated_at = ? WHERE `+cond, p.at, p.at, p.account, sid)
	if !baseline {
		p.tableEvents(t)
		p.add(`INSERT INTO change_events (account_id, run_id, at, entity, entity_id, organization_id, op, changes)
			SELECT account_id, ?, ?, ?, `+entityIDExpr(t)+`, `+eventOrgExpr(t)+`, 'deleted', json_object('deleted_reason', json_object('new', deleted_reason, 'old', NULL))
			FROM `+t.Quoted()+` WHERE account_id = ? AND deleted_at = ? AND `+keyTuple(t)+` IN (`+in+`)`,
			p.runID, p.at, t.Name, p.account, p.at, sid)
	}
	return nil
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
func (p *txBatch) offboard(ctx context.Context, op *orgCommit) error {
	sc := &Scope{Resource: schema.ResOrganization, Status: StatusComplete, StartedAt: p.s.now(), FinishedAt: p.s.now()}
	op.scopes = []*Scope{sc}
	var total int
	for _, t := range schema.OrgTables {
		var n int
		cond, args := liveCond(feed{Table: t}, p.account, op.org)
		if err := p.s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t.Quoted()+` WHERE `+cond, args...).Scan(&n); err != nil {
			return err
		}
		total += n
	}
	// Every row goes, so the fraction is always 1: only a small org or an
	// operator's --force-deletes lets it through.
	held := !op.forceDeletes && op.guard.trips(total, total)
	if p.dry && total > 0 {
		p.scope = sc
		p.note(PlannedChange{Op: opDeleted, Table: "*", Key: fmt.Sprintf("every live row of org %s (%d rows): the org vanished", op.org, total), Held: held})
	}
	if held {
		sc.Status = StatusGuarded
		sc.DeletesHeld = total
		return nil
	}
	written, err := p.offboardCounts(ctx, op.org)
	if err != nil {
		return err
	}
	sc.Written, sc.Counts = written, written[schema.ResOrganization]
	p.touchesUsers = p.touchesUsers || total > 0
	for _, t := range schema.OrgTables {
		cond, args := liveCond(feed{Table: t}, p.account, op.org)
		p.add(`INSERT INTO change_events (account_id, run_id, at, entity, entity_id, organization_id, op, changes)
			SELECT account_id, ?, ?, ?, `+entityIDExpr(t)+`, `+eventOrgExpr(t)+`, 'deleted', json_object('deleted_reason', json_object('new', 'organization_removed', 'old', NULL))
			FROM `+t.Quoted()+` WHERE `+cond, append([]any{p.runID, p.at, t.Name}, args...)...)
		p.endVersions(t, "deleted", t.Quoted()+" r", cond, args...)
		p.add(`UPDATE `+t.Quoted()+` SET deleted_at = ?, deleted_reason = 'organization_removed', updated_at = ? WHERE `+cond, append([]any{p.at, p.at}, args...)...)
	}
	return nil
}
