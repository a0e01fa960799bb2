package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/mapper"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
)

// membership is one org pass of members and invites: who is a member
// (username=email) and who is invited (id=email).
type membership struct {
	members []string
	invites []string
}

// TestInvitesAcceptedRevokedAndMergedUsers walks reconcile rule 5 through
// storage alone, on file: and sqld: an invite whose email joins as a member
// is tombstoned as accepted and its email: user merged into the member; an
// invite withdrawn before anyone joined is revoked and its user settles to
// inactive.
func TestInvitesAcceptedRevokedAndMergedUsers(t *testing.T) {
	for name, opener := range backends(t) {
		t.Run(name, func(t *testing.T) {
			clk := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
			st := opener(t, clk.Now)
			const account = "acct-invites"
			passes := []membership{
				{members: []string{"alice=alice@x.io"}, invites: []string{"1=bob@x.io", "2=carol@x.io"}},
				// bob joins under his username; carol's invite is withdrawn.
				{members: []string{"alice=alice@x.io", "bob=bob@x.io"}},
			}
			for _, p := range passes {
				membershipPass(t, st, account, p)
				clk.Advance(time.Minute)
			}
			if got := rowsOf(t, st, `SELECT id || ':' || coalesce(deleted_reason, 'live') FROM invites WHERE account_id = ? ORDER BY id`, account); got != "1:accepted,2:revoked" {
				t.Errorf("invites %s; want 1 accepted, 2 revoked", got)
			}
			if got := rowsOf(t, st, `SELECT user_id || ':' || source || ':' || coalesce(deleted_reason, 'live') FROM role_assignments WHERE account_id = ? ORDER BY user_id`, account); got != "alice:members:live,bob:members:live,email:bob@x.io:invites:accepted,email:carol@x.io:invites:revoked" {
				t.Errorf("role assignments %s", got)
			}
			if got := rowsOf(t, st, `SELECT id || ':' || status || ':' || coalesce(deleted_reason, 'live') FROM users WHERE account_id = ? ORDER BY id`, account); got != "alice:active:live,bob:active:live,email:bob@x.io:invited:merged,email:carol@x.io:inactive:live" {
				t.Errorf("users %s", got)
			}
		})
	}
}

// membershipPass runs one pass of org1's members and invites scopes and
// settles the account's users, as the sync does.
func membershipPass(t *testing.T, st *storage.Store, account string, p membership) {
	t.Helper()
	ctx := context.Background()
	pass, err := st.BeginPass(ctx, account, storage.PassOptions{Trigger: "manual", StartedAt: time.Now(), Guard: noGuard})
	if err != nil {
		t.Fatal(err)
	}
	org := pass.Org("org1")
	var ms []turso.Member
	byEmail := map[string]string{}
	for _, m := range p.members {
		user, email, _ := strings.Cut(m, "=")
		ms = append(ms, turso.Member{Username: user, Email: email, Role: "member", Raw: []byte(`{"username":"` + user + `"}`)})
		byEmail[email] = user
	}
	var is []turso.Invite
	for i, inv := range p.invites {
		_, email, _ := strings.Cut(inv, "=")
		is = append(is, turso.Invite{ID: int64(i + 1), Email: email, Role: "member", CreatedAt: "2026-11-01T00:00:00Z", Raw: []byte(`{"email":"` + email + `"}`)})
	}
	users, memberRAs := mapper.Members("org1", ms)
	members := map[string]bool{}
	for _, u := range users {
		members[u.ID] = true
	}
	invs, invUsers, invRAs := mapper.Invites("org1", is, mapper.Directory{UserByEmail: byEmail, OrgMembers: members})
	scope := func(resource string, rows []schema.Row, users []schema.User) *storage.Scope {
		staged, err := org.Stage(ctx, rows)
		if err != nil {
			t.Fatal(err)
		}
		return &storage.Scope{Resource: resource, Status: storage.StatusComplete, Rows: staged, Users: storage.SliceIter(users)}
	}
	var memberRows, inviteRows []schema.Row
	for _, r := range memberRAs {
		memberRows = append(memberRows, r)
	}
	for _, r := range invs {
		inviteRows = append(inviteRows, r)
	}
	for _, r := range invRAs {
		inviteRows = append(inviteRows, r)
	}
	scopes := []*storage.Scope{scope(schema.ResMembers, memberRows, users), scope(schema.ResInvites, inviteRows, invUsers)}
	if _, err := org.Commit(ctx, scopes); err != nil {
		t.Fatal(err)
	}
	if _, err := pass.SettleUsers(ctx, map[string]bool{"org1": true}, true); err != nil {
		t.Fatal(err)
	}
}

// rowsOf joins the one text column a query returns with commas.
func rowsOf(t *testing.T, st *storage.Store, q string, args ...any) string {
	t.Helper()
	rows, err := st.DB().Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}
