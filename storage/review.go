package storage

import (
	"context"
	"database/sql"
	"fmt"
)

// ReviewRow is one person's access to one org, as an access review lists
// it (docs/access-review.md).
type ReviewRow struct {
	Account, Org, OrgName   string
	UserID, Username, Email string
	Name                    string // only for the account's token owner: the API gives members no name
	Role, Status            string
	Since, SinceSource      string
	LastActivity            string // the member's latest audit event in the org; "" when none is kept
	MFA                     *bool  // only for the account's token owner
	FirstSeenAt             string
}

// AccessReview lists every live role assignment of the accounts (every
// account when none is given), of one org when org is set, person by
// person.
func (s *Store) AccessReview(ctx context.Context, accounts []string, org string) ([]ReviewRow, error) {
	q := `SELECT a.account_id, a.organization_id, coalesce(o.name, a.organization_id), a.user_id, coalesce(a.username, ''), coalesce(a.email, ''),
	             coalesce(au.name, ''), a.role_id, a.status, a.since, a.since_source, coalesce(la.last, ''), au.mfa, r.first_seen_at
	      FROM access_review a
	      JOIN role_assignments r ON r.account_id = a.account_id AND r.organization_id = a.organization_id AND r.user_id = a.user_id
	      LEFT JOIN organizations o ON o.account_id = a.account_id AND o.id = a.organization_id
	      LEFT JOIN account_users au ON au.account_id = a.account_id AND au.id = a.username AND au.deleted_at IS NULL
	      LEFT JOIN (SELECT account_id, organization_id, author, max(created_at) AS last FROM audit_logs GROUP BY account_id, organization_id, author) la
	             ON la.account_id = a.account_id AND la.organization_id = a.organization_id AND la.author = a.username AND a.username <> ''
	      WHERE 1 = 1`
	var args []any
	if len(accounts) > 0 {
		q += ` AND a.account_id IN (` + placeholders(len(accounts)) + `)`
		args = append(args, anys(accounts)...)
	}
	if org != "" {
		q += ` AND a.organization_id = ?`
		args = append(args, org)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY a.account_id, a.organization_id, a.user_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read the access review: %w", s.explain(err))
	}
	defer rows.Close()
	var out []ReviewRow
	for rows.Next() {
		var r ReviewRow
		var mfa sql.NullBool
		if err := rows.Scan(&r.Account, &r.Org, &r.OrgName, &r.UserID, &r.Username, &r.Email, &r.Name, &r.Role, &r.Status, &r.Since, &r.SinceSource,
			&r.LastActivity, &mfa, &r.FirstSeenAt); err != nil {
			return nil, fmt.Errorf("read the access review: %w", err)
		}
		if mfa.Valid {
			r.MFA = &mfa.Bool
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
