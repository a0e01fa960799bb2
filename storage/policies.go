package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Policies is the mirror as policy evaluation reads and writes it: the
// query that finds violations, and their lifecycle (docs/policies.md).
type Policies struct{ s *Store }

// Policies is the policy state of the mirror.
func (s *Store) Policies() *Policies { return &Policies{s: s} }

// Violation is one row a policy's query returned: what violates it.
type Violation struct {
	Org, SubjectType, SubjectID string
	// Details is every other column of the row, a JSON object.
	Details string
}

func (v Violation) key() string { return v.Org + "\x00" + v.SubjectType + "\x00" + v.SubjectID }

// The columns a policy's query must return; every other one is a detail.
var violationColumns = []string{"organization_id", "subject_type", "subject_id"}

// MaxViolations bounds what one evaluation reads: a policy that matches
// more rows than this is most likely written wrong, and its violations
// would not be read one by one anyway.
const MaxViolations = 1_000_000

// Find runs a policy's statement (already checked as a read) on the
// mirror and returns its rows as violations. A row without one of the
// three key columns is an error naming it; so is a statement that
// returns a subject twice.
func (p *Policies) Find(ctx context.Context, query string, args ...any) ([]Violation, error) {
	rows, err := p.s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, p.s.explain(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for i, c := range cols {
		idx[c] = i
	}
	for _, c := range violationColumns {
		if _, ok := idx[c]; !ok {
			return nil, fmt.Errorf("the query returns no %s column (it returns %s); a policy's rows need organization_id, subject_type and subject_id",
				c, strings.Join(cols, ", "))
		}
	}
	var out []Violation
	seen := map[string]bool{}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if len(out) == MaxViolations {
			return nil, fmt.Errorf("the query returns more than %d rows; narrow it", MaxViolations)
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		v := Violation{Org: text(vals[idx["organization_id"]]), SubjectType: text(vals[idx["subject_type"]]), SubjectID: text(vals[idx["subject_id"]])}
		if v.SubjectType == "" || v.SubjectID == "" {
			return nil, fmt.Errorf("a row has an empty subject_type or subject_id (organization %q)", v.Org)
		}
		if seen[v.key()] {
			return nil, fmt.Errorf("the query returns %s %s of organization %q twice; a subject is one row", v.SubjectType, v.SubjectID, v.Org)
		}
		seen[v.key()] = true
		details, err := detailsJSON(cols, vals)
		if err != nil {
			return nil, err
		}
		v.Details = details
		out = append(out, v)
	}
	return out, rows.Err()
}

// text is a column's value as text ("" for NULL).
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// detailsJSON is a row's columns but the three keys, as a JSON object in
// column order.
func detailsJSON(cols []string, vals []any) (string, error) {
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for i, c := range cols {
		if c == "organization_id" || c == "subject_type" || c == "subject_id" {
			continue
		}
		v := vals[i]
		if bs, ok := v.([]byte); ok {
			v = string(bs)
		}
		k, _ := json.Marshal(c)
		val, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("column %s: %w", c, err)
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
		n++
	}
	b.WriteByte('}')
	return b.String(), nil
}

// Evaluation is one evaluation of a policy for an account: its violations,
// or the error that stopped it.
type Evaluation struct {
	Policy, Severity, Account string
	// Definition identifies the statement and parameters evaluated
	// (policy_status.definition): Current matches it.
	Definition string
	At         time.Time
	Took       time.Duration
	Violations []Violation
	Err        error
}

// LastSeenEvery is how often an open violation's last_seen_at moves: it
// is within this of the last evaluation that returned it
// (policy_status.last_ok_at is that evaluation's time).
const LastSeenEvery = time.Hour

// Recorded is what an evaluation changed: the violations it opened and
// those it resolved, and how many are open after it.
type Recorded struct {
	Opened, Resolved []Violation
	Open             int
}

// Record writes an evaluation under the account's lease: new violations
// open, those seen again keep their first_seen_at and move last_seen_at
// (their details as now), those no longer returned are resolved. A failed
// evaluation changes no violation; policy_status says it failed.
func (p *Policies) Record(ctx context.Context, e Evaluation) (Recorded, error) {
	s := p.s
	if err := s.writeGuard(); err != nil {
		return Recorded{}, err
	}
	record := p.recordViolations
	if e.Err != nil {
		record = p.recordFailure
	}
	rec, stmts, err := record(ctx, e, s.ts(e.At))
	if err != nil {
		return Recorded{}, fmt.Errorf("record policy %s: %w", e.Policy, s.explain(err))
	}
	if err := s.commitBatch(ctx, s.fence(e.Account), stmts); err != nil {
		return Recorded{}, fmt.Errorf("record policy %s for %s: %w", e.Policy, e.Account, s.explainWrite(err))
	}
	return rec, nil
}

// recordFailure is a failed evaluation's statement: its status alone.
func (p *Policies) recordFailure(ctx context.Context, e Evaluation, at string) (Recorded, []stmt, error) {
	var rec Recorded
	err := p.s.db.QueryRowContext(ctx, `SELECT count(*) FROM policy_violations WHERE policy = ? AND account_id = ? AND resolved_at IS NULL`,
		e.Policy, e.Account).Scan(&rec.Open)
	return rec, []stmt{p.statusStmt(e, at, "failed", e.Err.Error(), rec)}, err
}

// recordViolations diffs an evaluation's violations against the open
// ones and returns the statements that open, update and resolve them,
// their events and the status.
func (p *Policies) recordViolations(ctx context.Context, e Evaluation, at string) (Recorded, []stmt, error) {
	s := p.s
	var rec Recorded
	var evaluated int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM policy_status WHERE policy = ? AND account_id = ?`, e.Policy, e.Account).Scan(&evaluated); err != nil {
		return rec, nil, err
	}
	open, err := p.open(ctx, e.Policy, e.Account)
	if err != nil {
		return rec, nil, err
	}
	var stmts []stmt
	var opened [][]any
	seen := map[string]bool{}
	for _, v := range e.Violations {
		seen[v.key()] = true
		o, ok := open[v.key()]
		switch {
		case !ok:
			rec.Opened = append(rec.Opened, v)
			opened = append(opened, []any{e.Policy, e.Account, v.Org, v.SubjectType, v.SubjectID, e.Severity, v.Details, at, at})
		case o.details != v.Details:
			// New details: the row is written anyway, last_seen_at too.
			stmts = append(stmts, stmt{`UPDATE policy_violations SET details = ?, last_seen_at = ? WHERE id = ?`, []any{v.Details, at, o.id}})
		}
	}
	var resolve []any
	for k, o := range open {
		if !seen[k] {
			resolve = append(resolve, o.id)
			rec.Resolved = append(rec.Resolved, o.v)
		}
	}
	rec.Open = len(e.Violations)
	for start := 0; start < len(resolve); start += 10000 {
		ids := resolve[start:min(start+10000, len(resolve))]
		// last_seen_at becomes the last evaluation that returned them.
		stmts = append(stmts, stmt{`UPDATE policy_violations SET resolved_at = ?, last_seen_at = coalesce((SELECT last_ok_at FROM policy_status
			WHERE policy = policy_violations.policy AND account_id = policy_violations.account_id), last_seen_at) WHERE id IN (` + placeholders(len(ids)) + `)`,
			append([]any{at}, ids...)})
	}
	// Rewriting every open violation at every evaluation cost more than
	// the evaluation itself on a large org (162,000 rows): its
	// last_seen_at moves at most every LastSeenEvery. A severity the
	// config changed is written at once.
	stmts = append(stmts, stmt{`UPDATE policy_violations SET last_seen_at = ? WHERE policy = ? AND account_id = ? AND resolved_at IS NULL AND last_seen_at <= ?`,
		[]any{at, e.Policy, e.Account, s.ts(e.At.Add(-LastSeenEvery))}},
		stmt{`UPDATE policy_violations SET severity = ? WHERE policy = ? AND account_id = ? AND resolved_at IS NULL AND severity <> ?`,
			[]any{e.Severity, e.Policy, e.Account, e.Severity}})
	stmts = append(stmts, insertRows(`policy_violations (policy, account_id, organization_id, subject_type, subject_id, severity, details, first_seen_at, last_seen_at)`,
		opened)...)
	if evaluated > 0 {
		// A policy's first evaluation for an account is its baseline: what
		// it finds was there before, and the metrics and alerts say so;
		// only what changes after it becomes an event.
		stmts = append(stmts, policyEventStmts(e, at, "policy.violated", rec.Opened)...)
		stmts = append(stmts, policyEventStmts(e, at, "policy.resolved", rec.Resolved)...)
	}
	return rec, append(stmts, p.statusStmt(e, at, "ok", "", rec)), nil
}

// policyEventStmts insert the webhook events of violations opened or
// resolved.
func policyEventStmts(e Evaluation, at, typ string, vs []Violation) []stmt {
	rows := make([][]any, len(vs))
	for i, v := range vs {
		rows[i] = []any{e.Account, typ, e.Policy, e.Severity, v.Org, v.SubjectType, v.SubjectID, v.Details, at}
	}
	return insertRows(`policy_events (account_id, type, policy, severity, organization_id, subject_type, subject_id, details, at)`, rows)
}

func (p *Policies) statusStmt(e Evaluation, at, status, errText string, rec Recorded) stmt {
	lastOK := any(nil)
	if status == "ok" {
		lastOK = at
	}
	return stmt{`INSERT INTO policy_status (policy, account_id, severity, status, error, evaluated_at, last_ok_at, open, opened, resolved, duration_ms,
			definition, last_run_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT max(id) FROM sync_runs WHERE account_id = ?))
		ON CONFLICT (policy, account_id) DO UPDATE SET severity = excluded.severity, status = excluded.status, error = excluded.error,
			evaluated_at = excluded.evaluated_at, last_ok_at = coalesce(excluded.last_ok_at, policy_status.last_ok_at),
			open = excluded.open, opened = excluded.opened, resolved = excluded.resolved, duration_ms = excluded.duration_ms,
			definition = excluded.definition, last_run_id = excluded.last_run_id`,
		[]any{e.Policy, e.Account, e.Severity, status, nullStr(errText), at, lastOK, rec.Open, len(rec.Opened), len(rec.Resolved), e.Took.Milliseconds(),
			e.Definition, e.Account}}
}

// Current reports whether the policy's last evaluation for the account
// still stands, and how many violations it left open: it ran without
// error, of the same definition, at or after notBefore, and no pass of
// the account since then wrote a row or ended without counting what it
// wrote (aborted, interrupted). A pass's rows_* count every table it
// wrote, users and usage included. Writers other than passes (prune)
// are not seen: notBefore bounds how long they go unnoticed.
func (p *Policies) Current(ctx context.Context, policy, account, definition string, notBefore time.Time) (open int, current bool, err error) {
	err = p.s.db.QueryRowContext(ctx, `SELECT s.open FROM policy_status s
		WHERE s.policy = ? AND s.account_id = ? AND s.status = 'ok' AND s.definition = ? AND s.evaluated_at >= ? AND s.last_run_id IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM sync_runs r WHERE r.account_id = s.account_id AND r.id > s.last_run_id
		    AND (r.rows_created + r.rows_updated + r.rows_deleted > 0 OR r.status NOT IN ('complete', 'partial', 'failed')))`,
		policy, account, definition, p.s.ts(notBefore)).Scan(&open)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read policy %s's last evaluation for %s: %w", policy, account, p.s.explain(err))
	}
	return open, true, nil
}

type openViolation struct {
	id      int64
	details string
	v       Violation
}

// open reads a policy's open violations for an account, by subject.
func (p *Policies) open(ctx context.Context, policy, account string) (map[string]openViolation, error) {
	rows, err := p.s.db.QueryContext(ctx, `SELECT id, organization_id, subject_type, subject_id, details FROM policy_violations
		WHERE policy = ? AND account_id = ? AND resolved_at IS NULL`, policy, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]openViolation{}
	for rows.Next() {
		var o openViolation
		if err := rows.Scan(&o.id, &o.v.Org, &o.v.SubjectType, &o.v.SubjectID, &o.details); err != nil {
			return nil, err
		}
		o.v.Details = o.details
		out[o.v.key()] = o
	}
	return out, rows.Err()
}

// PolicyState is a policy's last evaluation for an account, and its open
// violations by severity.
type PolicyState struct {
	Policy, Account, Severity, Status, Error string
	EvaluatedAt                              time.Time
	LastOKAt                                 *time.Time
	Open, Opened, Resolved                   int
	Took                                     time.Duration
}

// States reads policy_status, by policy and account.
func (p *Policies) States(ctx context.Context) ([]PolicyState, error) {
	rows, err := p.s.db.QueryContext(ctx, `SELECT policy, account_id, severity, status, coalesce(error, ''), evaluated_at, last_ok_at, open, opened, resolved, duration_ms
		FROM policy_status ORDER BY policy, account_id`)
	if err != nil {
		return nil, fmt.Errorf("read policy status: %w", p.s.explain(err))
	}
	defer rows.Close()
	var out []PolicyState
	for rows.Next() {
		var st PolicyState
		var evaluated string
		var lastOK sql.NullString
		var ms int64
		if err := rows.Scan(&st.Policy, &st.Account, &st.Severity, &st.Status, &st.Error, &evaluated, &lastOK, &st.Open, &st.Opened, &st.Resolved, &ms); err != nil {
			return nil, err
		}
		st.EvaluatedAt, _ = time.Parse(time.RFC3339, evaluated)
		if lastOK.Valid {
			t, _ := time.Parse(time.RFC3339, lastOK.String)
			st.LastOKAt = &t
		}
		st.Took = time.Duration(ms) * time.Millisecond
		out = append(out, st)
	}
	return out, rows.Err()
}

// OpenViolation is an open violation as `tursync policy check` lists it.
type OpenViolation struct {
	Violation
	Policy, Account, Severity string
	FirstSeenAt, LastSeenAt   time.Time
}

// OpenViolations lists the open violations of the named policies (every
// policy when none is named), oldest first.
func (p *Policies) OpenViolations(ctx context.Context, policies ...string) ([]OpenViolation, error) {
	q := `SELECT policy, account_id, organization_id, subject_type, subject_id, severity, details, first_seen_at, last_seen_at
		FROM policy_violations WHERE resolved_at IS NULL`
	if len(policies) > 0 {
		q += ` AND policy IN (` + placeholders(len(policies)) + `)`
	}
	rows, err := p.s.db.QueryContext(ctx, q+` ORDER BY first_seen_at, id`, anys(policies)...)
	if err != nil {
		return nil, fmt.Errorf("read open violations: %w", p.s.explain(err))
	}
	defer rows.Close()
	var out []OpenViolation
	for rows.Next() {
		var o OpenViolation
		var first, last string
		if err := rows.Scan(&o.Policy, &o.Account, &o.Org, &o.SubjectType, &o.SubjectID, &o.Severity, &o.Details, &first, &last); err != nil {
			return nil, err
		}
		o.FirstSeenAt, _ = time.Parse(time.RFC3339, first)
		o.LastSeenAt, _ = time.Parse(time.RFC3339, last)
		out = append(out, o)
	}
	return out, rows.Err()
}

// policyTables hold a policy's rows.
var policyTables = []string{"policy_violations", "policy_status"}

// Rows counts a policy's rows, by table.
func (p *Policies) Rows(ctx context.Context, policy string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range policyTables {
		var n int64
		if err := p.s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t+` WHERE policy = ?`, policy).Scan(&n); err != nil {
			return nil, fmt.Errorf("count rows of policy %s: %w", policy, p.s.explain(err))
		}
		if n > 0 {
			out[t] = n
		}
	}
	return out, nil
}

// Prune removes every row of a policy: what `tursync prune --policy NAME
// --yes` does for a policy removed from the config.
func (p *Policies) Prune(ctx context.Context, policy string) (map[string]int64, error) {
	s := p.s
	if err := s.writeGuard(); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range policyTables {
		err := s.exec(ctx, func(res sql.Result) { out[t], _ = res.RowsAffected() }, `DELETE FROM `+t+` WHERE policy = ?`, policy)
		if err != nil {
			return nil, fmt.Errorf("prune policy %s: %w", policy, s.explainWrite(err))
		}
	}
	return out, nil
}
