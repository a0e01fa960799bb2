package sync_test

import (
	"testing"

	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso/tursotest"
)

// role_assignment_history answers "who had which role at time T" for a
// time before and after a role change, a removal and a return, and its
// current versions are the live assignments.
func TestRoleAssignmentHistory(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 1, Members: 5, Invites: 1, Databases: 2, Groups: 1, APITokens: 1, AuditEvents: 2})
	pass := func(what string) {
		t.Helper()
		if r := e.pass(); r.Status != storage.StatusComplete {
			t.Fatalf("%s: %s %v", what, r.Status, r.Err)
		}
	}
	pass("first pass") // 12:00
	org := e.sim.Orgs()[0]
	ms := e.sim.Members(org)
	changed, removed := ms[1], ms[2]
	if changed.Role == "admin" || removed.Role == "" {
		t.Fatalf("the scenario needs a non-admin member: %+v", ms)
	}
	e.sim.SetMemberRole(org, changed.Username, "admin")
	e.sim.RemoveMember(org, removed.Username)
	pass("role change and removal") // 12:01
	e.sim.SetMemberRole(org, changed.Username, "viewer")
	pass("second role change") // 12:02
	e.sim.AddMember(org, removed)
	pass("return") // 12:03

	roleAt := func(user, at string) string {
		return e.str(`SELECT coalesce(group_concat(role_id), '') FROM role_assignment_history
			WHERE organization_id = ? AND user_id = ? AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)`, org, user, at, at)
	}
	for _, c := range []struct{ user, at, want string }{
		{changed.Username, "2026-11-20T12:00:30Z", changed.Role},
		{changed.Username, "2026-11-20T12:01:30Z", "admin"},
		{changed.Username, "2026-11-20T12:02:30Z", "viewer"},
		{removed.Username, "2026-11-20T12:00:30Z", removed.Role},
		{removed.Username, "2026-11-20T12:01:30Z", ""},
		{removed.Username, "2026-11-20T12:02:30Z", ""},
		{removed.Username, "2026-11-20T12:03:30Z", removed.Role},
		{changed.Username, "2026-11-20T11:59:00Z", ""}, // before the mirror knew it
	} {
		if got := roleAt(c.user, c.at); got != c.want {
			t.Errorf("%s at %s: role %q, want %q", c.user, c.at, got, c.want)
		}
	}
	// The current versions are the live assignments, role for role.
	if n := e.count(`SELECT count(*) FROM role_assignments r WHERE r.deleted_at IS NULL AND NOT EXISTS (
		SELECT 1 FROM role_assignment_history h WHERE h.account_id = r.account_id AND h.organization_id = r.organization_id
		   AND h.user_id = r.user_id AND h.valid_to IS NULL AND h.role_id = r.role_id)`); n != 0 {
		t.Errorf("%d live assignments have no current version with their role", n)
	}
	if n := e.count(`SELECT count(*) FROM role_assignment_history h WHERE h.valid_to IS NULL AND NOT EXISTS (
		SELECT 1 FROM role_assignments r WHERE r.account_id = h.account_id AND r.organization_id = h.organization_id
		   AND r.user_id = h.user_id AND r.deleted_at IS NULL)`); n != 0 {
		t.Errorf("%d current versions of assignments that are not live", n)
	}
}
