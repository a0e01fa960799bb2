package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tursync/tursync/schema"
)

// startRun records the start of an account pass and returns its run id, an
// integer that grows with every run.
func (s *Store) startRun(ctx context.Context, account, trigger string, at time.Time) (int64, error) {
	if err := s.writeGuard(); err != nil {
		return 0, fmt.Errorf("start run of %s: %w", account, err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO sync_runs (account_id, trigger, started_at, status) VALUES (?, ?, ?, 'running')`,
		account, trigger, s.ts(at))
	if err != nil {
		return 0, s.explainWrite(fmt.Errorf("start run of %s: %w", account, err))
	}
	id, err := res.LastInsertId()
	if err != nil || id == 0 {
		// Remote libSQL may not report the id; read it back.
		err = s.db.QueryRowContext(ctx, `SELECT max(id) FROM sync_runs WHERE account_id = ?`, account).Scan(&id)
	}
	if err != nil {
		return 0, fmt.Errorf("start run of %s: %w", account, err)
	}
	return id, nil
}

// Run is the summary of an account pass.
type Run struct {
	ID                 int64
	Status             string // complete, partial or failed
	FinishedAt         time.Time
	APIRequests        int64
	APIRetries         int64
	RateLimitedSeconds float64
	Counts             Counts
	Error              string
	// UsersSettled: the run's user settlement left no user unsettled.
	UsersSettled bool
	// TokenExpiresAt is when the account's token expires, when the run
	// validated it.
	TokenExpiresAt time.Time
}

// nullTS is t as stored, or NULL when zero.
func (s *Store) nullTS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.ts(t)
}

// finishRun records the end of an account pass.
func (s *Store) finishRun(ctx context.Context, r Run) error {
	if err := s.writeGuard(); err != nil {
		return fmt.Errorf("finish run %d: %w", r.ID, err)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE sync_runs SET finished_at = ?, status = ?, api_requests = ?, api_retries = ?, rate_limited_seconds = ?,
		rows_created = ?, rows_updated = ?, rows_deleted = ?, rows_unchanged = ?, error = ?, users_settled = ?,
		token_expires_at = coalesce(?, token_expires_at) WHERE id = ?`,
		s.ts(r.FinishedAt), r.Status, r.APIRequests, r.APIRetries, r.RateLimitedSeconds,
		r.Counts.Created, r.Counts.Updated, r.Counts.Deleted, r.Counts.Unchanged, nullStr(r.Error), r.UsersSettled, s.nullTS(r.TokenExpiresAt), r.ID)
	if err != nil {
		return s.explainWrite(fmt.Errorf("finish run %d: %w", r.ID, err))
	}
	return nil
}

// recordScopes records the scopes of an org whose rows are not written:
// the token was refused, the org is unknown, or its commit failed
// (OrgPass.Abandon).
func (s *Store) recordScopes(ctx context.Context, account string, runID int64, org string, scopes []*Scope) error {
	p := s.newTxBatch(account, runID, false)
	p.recordScopes(org, scopes)
	if err := p.commit(ctx, s.fence(account)); err != nil {
		return s.explainWrite(fmt.Errorf("record scopes of %s: %w", org, err))
	}
	return nil
}

// auditHighWater returns the newest audit event time stored for an org, or ""
// when none is.
func (s *Store) auditHighWater(ctx context.Context, account, org string) (string, error) {
	var hw sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT max(created_at) FROM audit_logs WHERE account_id = ? AND organization_id = ?`, account, org).Scan(&hw)
	if err != nil {
		return "", fmt.Errorf("audit high-water mark of %s: %w", org, err)
	}
	return hw.String, nil
}

// memberEmails maps those of emails (normalized) that belong to a live
// member user of the account to its username, for resolving invites. Only
// the invites' emails are looked up: an account of a million members is
// never held as a map.
func (s *Store) memberEmails(ctx context.Context, account string, emails []string) (map[string]string, error) {
	out := map[string]string{}
	err := s.lookupIn(ctx, `SELECT email, id FROM users WHERE account_id = ? AND deleted_at IS NULL AND id NOT LIKE 'email:%' AND email IN `,
		[]any{account}, emails, func(email, id string) { out[email] = id })
	if err != nil {
		return nil, fmt.Errorf("member emails of %s: %w", account, err)
	}
	return out, nil
}

// orgMembers reports which of usernames have a live membership of an org.
func (s *Store) orgMembers(ctx context.Context, account, org string, usernames []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.lookupIn(ctx, `SELECT user_id, '' FROM role_assignments WHERE account_id = ? AND organization_id = ? AND source = 'members' AND deleted_at IS NULL AND user_id IN `,
		[]any{account, org}, usernames, func(id, _ string) { out[id] = true })
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", org, err)
	}
	return out, nil
}

// lookupIn runs q, which ends in "IN ", for values in batches of
// diffBatch, and hands each row's two columns to fn.
func (s *Store) lookupIn(ctx context.Context, q string, args []any, values []string, fn func(a, b string)) error {
	for start := 0; start < len(values); start += diffBatch {
		batch := values[start:min(start+diffBatch, len(values))]
		all := append([]any{}, args...)
		for _, v := range batch {
			all = append(all, v)
		}
		rows, err := s.db.QueryContext(ctx, q+`(?`+strings.Repeat(", ?", len(batch)-1)+`)`, all...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				rows.Close()
				return err
			}
			fn(a, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// liveOrgs returns the slugs of the account's organizations not tombstoned.
func (s *Store) liveOrgs(ctx context.Context, account string) ([]string, error) {
	out, err := stringsOf(s.db.QueryContext(ctx, `SELECT id FROM organizations WHERE account_id = ? AND deleted_at IS NULL ORDER BY id`, account))
	if err != nil {
		return nil, fmt.Errorf("orgs of %s: %w", account, err)
	}
	return out, nil
}

// stringsOf reads a query's one text column.
func stringsOf(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// applyAccount writes the account-wide rows that belong to no org scope:
// the four roles and the locations list. Unchanged rows are not rewritten.
func (s *Store) applyAccount(ctx context.Context, account string, runID int64, roles []schema.Role, locs []schema.Location) (Counts, error) {
	var c Counts
	p := s.newTxBatch(account, runID, false)
	defer p.discard(ctx)
	p.open("account")
	st, err := s.stageRows(ctx, account, schema.Rows(roles))
	if err != nil {
		return c, fmt.Errorf("apply account %s: roles: %w", account, err)
	}
	if err := p.addStaged(ctx, st, true, c.tally); err != nil {
		return c, fmt.Errorf("apply account %s: roles: %w", account, err)
	}
	p.close()
	if len(locs) > 0 {
		have := map[string]string{}
		rows, err := s.db.QueryContext(ctx, `SELECT code, description FROM locations`)
		if err != nil {
			return c, fmt.Errorf("apply account %s: locations: %w", account, err)
		}
		for rows.Next() {
			var code, desc string
			if err := rows.Scan(&code, &desc); err != nil {
				rows.Close()
				return c, fmt.Errorf("apply account %s: locations: %w", account, err)
			}
			have[code] = desc
		}
		rows.Close()
		var args []any
		for _, l := range locs {
			d, ok := have[l.Code]
			switch {
			case ok && d == l.Description:
				c.Unchanged++
				continue
			case ok:
				c.Updated++
			default:
				c.Created++ // a new mirror creates its locations, it updates none
			}
			args = append(args, l.Code, l.Description, p.at)
		}
		if len(args) > 0 {
			p.add(`INSERT INTO locations (code, description, updated_at) VALUES (?, ?, ?)`+strings.Repeat(", (?, ?, ?)", len(args)/3-1)+`
				ON CONFLICT (code) DO UPDATE SET description = excluded.description, updated_at = excluded.updated_at
				WHERE locations.description <> excluded.description`, args...)
		}
	}
	if err := p.commit(ctx, s.fence(account)); err != nil {
		return Counts{}, fmt.Errorf("apply account %s: %w", account, err)
	}
	return c, nil
}

// settle recomputes the status of the account's users from their live
// role assignments: active when a member somewhere, invited when only
// invited, inactive otherwise. A user is settled only when every org it has
// (or just lost) an assignment in had its members and invites scopes complete
// in this run: settledOrgs lists those orgs. An email: user whose email now
// belongs to a member is tombstoned with reason merged.
//
// touched says the run wrote users or role assignments. When it did not,
// and the account's run before this one left every user settled, every
// status is already what settling would make it: the account-wide query
// is skipped. Settled reports whether no user is left unsettled, for the
// run's users_settled.
func (s *Store) settle(ctx context.Context, account string, runID int64, runStarted time.Time, settledOrgs map[string]bool, touched bool) (Settlement, error) {
	if !touched {
		var prev bool
		err := s.db.QueryRowContext(ctx, `SELECT coalesce((SELECT users_settled FROM sync_runs WHERE account_id = ? AND id < ? ORDER BY id DESC LIMIT 1), 0)`,
			account, runID).Scan(&prev)
		if err != nil {
			return Settlement{}, fmt.Errorf("settle users of %s: %w", account, err)
		}
		if prev {
			return Settlement{Settled: true, Skipped: true}, nil
		}
	}
	st, err := s.settleUsers(ctx, account, runID, runStarted, settledOrgs)
	return st, s.explainWrite(err)
}

// Settlement is what SettleUsers did.
type Settlement struct {
	Counts  Counts
	Settled bool // no user was left unsettled
	Skipped bool // nothing was written since a complete settlement
}

func (s *Store) settleUsers(ctx context.Context, account string, runID int64, runStarted time.Time, settledOrgs map[string]bool) (Settlement, error) {
	var c Counts
	// Most passes change no user: look first without the write lock, and
	// take it only when there is something to write.
	changes, unsettled, err := settleChanges(ctx, s.db, account, s.ts(runStarted), settledOrgs)
	if err != nil || len(changes) == 0 {
		return Settlement{Settled: err == nil && unsettled == 0}, err
	}
	p := s.newTxBatch(account, runID, false)
	defer p.discard(ctx)
	p.open("users")
	started := s.ts(runStarted)
	var merged []any
	for _, ch := range changes {
		// A user first seen in this very run is part of its baseline.
		baseline := ch.first >= started
		if ch.merged {
			merged = append(merged, ch.u.ID)
			if !baseline {
				if err := p.event(ctx, schema.Users, []string{ch.u.ID}, opDeleted, map[string]any{"deleted_reason": map[string]any{"old": nil, "new": "merged"}}); err != nil {
					return Settlement{}, fmt.Errorf("settle users of %s: %w", account, err)
				}
			}
			c.Deleted++
			continue
		}
		if err := p.addChanged(ctx, []schema.Row{ch.u}, baseline, c.tally); err != nil {
			return Settlement{}, fmt.Errorf("settle users of %s: %w", account, err)
		}
	}
	p.close()
	for start := 0; start < len(merged); start += diffBatch {
		ids := merged[start:min(start+diffBatch, len(merged))]
		p.add(`UPDATE users SET deleted_at = ?, deleted_reason = 'merged', updated_at = ? WHERE account_id = ? AND id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`,
			append([]any{p.at, p.at, account}, ids...)...)
	}
	if err := p.commit(ctx, s.fence(account)); err != nil {
		return Settlement{}, fmt.Errorf("settle users of %s: %w", account, err)
	}
	return Settlement{Counts: c, Settled: unsettled == 0}, nil
}

// TableCount is one row of a summary: rows of a table, live and tombstoned.
type TableCount struct {
	Table string
	Live  int
	Gone  int
}

// Summary counts the live and tombstoned rows of every table, all accounts
// together.
func (s *Store) Summary(ctx context.Context) ([]TableCount, error) {
	var out []TableCount
	for _, t := range schema.EntityTables {
		tc := TableCount{Table: t.Name}
		if err := s.db.QueryRowContext(ctx, `SELECT coalesce(sum(deleted_at IS NULL), 0), coalesce(sum(deleted_at IS NOT NULL), 0) FROM `+t.Quoted()).Scan(&tc.Live, &tc.Gone); err != nil {
			return nil, fmt.Errorf("summary of %s: %w", t.Name, err)
		}
		out = append(out, tc)
	}
	var rest []string
	for _, t := range schema.AppendOnlyTables {
		rest = append(rest, t.Name)
	}
	for _, t := range append(rest, "locations", "change_events", "sync_runs", "sync_scopes") {
		tc := TableCount{Table: t}
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t).Scan(&tc.Live); err != nil {
			return nil, fmt.Errorf("summary of %s: %w", t, err)
		}
		out = append(out, tc)
	}
	return out, nil
}

// settleChange is a user whose status a pass recomputes, or an email: user
// merged into a member.
type settleChange struct {
	u      schema.User
	first  string
	merged bool
}

// settleChanges lists the users of an account whose status must change,
// and counts those it left alone because one of their orgs is not settled.
func settleChanges(ctx context.Context, q querier, account, started string, settledOrgs map[string]bool) ([]settleChange, int, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT u.id, u.username, u.email, u.status, u.remote_data, u.first_seen_at,
		       coalesce(group_concat(ra.organization_id, char(31)), ''),
		       coalesce(max(ra.deleted_at IS NULL AND ra.status = 'active'), 0),
		       coalesce(max(ra.deleted_at IS NULL AND ra.status = 'invited'), 0),
		       EXISTS (SELECT 1 FROM users m WHERE m.account_id = u.account_id AND m.deleted_at IS NULL AND m.id NOT LIKE 'email:%'
		               AND m.email = u.email AND u.id LIKE 'email:%')
		FROM users u
		LEFT JOIN role_assignments ra ON ra.account_id = u.account_id AND ra.user_id = u.id
		     AND (ra.deleted_at IS NULL OR ra.deleted_at >= ?)
		WHERE u.account_id = ? AND u.deleted_at IS NULL
		GROUP BY u.id`, started, account)
	if err != nil {
		return nil, 0, fmt.Errorf("settle users of %s: %w", account, err)
	}
	var changes []settleChange
	unsettled := 0
	for rows.Next() {
		var u schema.User
		var remote, first, orgs string
		var active, invited, merged bool
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.Status, &remote, &first, &orgs, &active, &invited, &merged); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("settle users of %s: %w", account, err)
		}
		u.RemoteData = []byte(remote)
		settled := true
		for _, o := range strings.Split(orgs, "\x1f") {
			if o != "" && !settledOrgs[o] {
				settled = false
			}
		}
		if !settled {
			unsettled++
			continue
		}
		want := schema.UserInactive
		switch {
		case active:
			want = schema.UserActive
		case invited:
			want = schema.UserInvited
		}
		if merged && !invited {
			changes = append(changes, settleChange{u: u, first: first, merged: true})
			continue
		}
		if want != u.Status {
			u.Status = want
			changes = append(changes, settleChange{u: u, first: first})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("settle users of %s: %w", account, err)
	}
	return changes, unsettled, nil
}
