package sync_test

import (
	"testing"
	"time"

	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso/tursotest"
)

// role_assignment_history answers "who had which role at time T" for a
// time before and after a role change, a removal and a return, and its
// current versions are the live assignments.
func TestRoleAssignmentHistory(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 1, Members: 5, Invites: 1, Databases: 2, Groups: 1, APITokens: 1, AuditEvents: 2})
	pass := e.completePass
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

// Every history table answers "what was it at T" before and after its
// rows change, vanish and appear; a first pass and an unchanged pass
// write no version.
func TestHistoryOfEveryTable(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 1, Members: 4, Invites: 2, Databases: 3, Groups: 2, APITokens: 2, AuditEvents: 2})
	pass := e.completePass
	versions := func() int { return e.count(`SELECT count(*) FROM row_versions`) }
	pass("first pass") // 12:00
	if n := versions(); n != 0 {
		t.Fatalf("the first pass wrote %d versions; the live rows are the current ones", n)
	}
	org := e.sim.Orgs()[0]
	dbs, groups, invs, toks := e.sim.Databases(org), e.sim.Groups(org), e.sim.Invites(org), e.sim.APITokens(org)
	protected := dbs[0].DeleteProtection
	e.sim.UpdateDatabase(org, dbs[0].Name, func(d *tursotest.Database) { d.DeleteProtection = !protected })
	e.sim.DeleteDatabase(org, dbs[1].Name)
	e.sim.CreateGroup(org, "eu-only", "fra")
	e.sim.DeleteGroup(org, groups[1].Name)
	e.sim.RevokeInvite(org, invs[0].Email)
	e.sim.CreateInvite(org, "late@example.com", "viewer")
	e.sim.RevokeAPIToken(org, toks[0].ID)
	e.sim.CreateAPIToken(org, "deploy")
	pass("changes") // 12:01
	after := versions()
	if after != 6 {
		t.Errorf("the changes wrote %d versions, want 6 (a changed database; a deleted database, group, token, invite and the invite's role assignment)", after)
	}
	pass("unchanged") // 12:02
	if n := versions(); n != after {
		t.Errorf("an unchanged pass wrote %d versions", n-after)
	}

	const before, since = "2026-11-20T12:00:30Z", "2026-11-20T12:01:30Z"
	at := func(view, cond, when string, args ...any) string {
		return e.str(`SELECT coalesce(group_concat(x), '') FROM (SELECT `+cond+` AS x FROM `+view+`
			WHERE organization_id = ? AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?) ORDER BY 1)`,
			append([]any{org, when, when}, args...)...)
	}
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	for _, c := range []struct{ what, view, expr, when, want string }{
		{"protection before", "database_history", "CASE WHEN name = '" + dbs[0].Name + "' THEN delete_protection END", before, b(protected)},
		{"protection after", "database_history", "CASE WHEN name = '" + dbs[0].Name + "' THEN delete_protection END", since, b(!protected)},
		{"deleted database before", "database_history", "CASE WHEN name = '" + dbs[1].Name + "' THEN 'there' END", before, "there"},
		{"deleted database after", "database_history", "CASE WHEN name = '" + dbs[1].Name + "' THEN 'there' END", since, ""},
		{"new group before", "group_history", "CASE WHEN name = 'eu-only' THEN primary_location END", before, ""},
		{"new group after", "group_history", "CASE WHEN name = 'eu-only' THEN primary_location END", since, "fra"},
		{"deleted group before", "group_history", "CASE WHEN name = '" + groups[1].Name + "' THEN 'there' END", before, "there"},
		{"deleted group after", "group_history", "CASE WHEN name = '" + groups[1].Name + "' THEN 'there' END", since, ""},
		{"revoked invite before", "invite_history", "CASE WHEN email = lower('" + invs[0].Email + "') THEN role END", before, invs[0].Role},
		{"revoked invite after", "invite_history", "CASE WHEN email = lower('" + invs[0].Email + "') THEN role END", since, ""},
		{"new invite after", "invite_history", "CASE WHEN email = 'late@example.com' THEN role END", since, "viewer"},
		{"revoked token before", "api_token_history", "CASE WHEN name = '" + toks[0].Name + "' THEN owner_username END", before, toks[0].Owner.Username},
		{"revoked token after", "api_token_history", "CASE WHEN name = '" + toks[0].Name + "' THEN owner_username END", since, ""},
		{"new token before", "api_token_history", "CASE WHEN name = 'deploy' THEN 'there' END", before, ""},
		{"new token after", "api_token_history", "CASE WHEN name = 'deploy' THEN 'there' END", since, "there"},
	} {
		if got := at(c.view, c.expr, c.when); got != c.want {
			t.Errorf("%s (%s at %s): %q, want %q", c.what, c.view, c.when, got, c.want)
		}
	}
	// A version holds the whole row: the deleted database's last version
	// is the row as the mirror last had it.
	if got := e.str(`SELECT h.hostname = d.hostname AND h.group_name = d.group_name AND h.regions = d.regions AND h.ended_by = 'deleted'
		FROM database_history h JOIN databases d ON d.account_id = h.account_id AND d.organization_id = h.organization_id AND d.id = h.id
		WHERE d.name = ? AND h.valid_to IS NOT NULL`, dbs[1].Name); got != "1" {
		t.Errorf("the deleted database's last version differs from its row: %q", got)
	}
}

// A change is matched to an audit event by object and time, never by
// guess: an event that names the object but came before the scope's
// previous fetch, or one in the window that names another object, leaves
// the change observed.
func TestAttributionNeedsTheObjectAndTheWindow(t *testing.T) {
	e := newEnv(t, tursotest.Size{Orgs: 1, Members: 3, Invites: 1, Databases: 4, Groups: 1, APITokens: 1, AuditEvents: 2})
	pass := e.completePass
	pass("first pass") // 12:00
	org := e.sim.Orgs()[0]
	dbs := e.sim.Databases(org)
	e.sim.AppendAudit(org, "db-delete", "mallory", map[string]any{"name": dbs[3].Name}) // 12:01, too early
	e.clk.Advance(30 * time.Second)
	pass("the stale event's pass") // 12:01:30, dbs[3] still there
	e.sim.AppendAudit(org, "db-delete", "mallory", map[string]any{"name": "another-db"})
	e.sim.SetDatabases(org, 3) // dbs[3] goes, logged by nobody
	pass("the deletion")
	got := e.str(`SELECT source || ' ' || coalesce(actor, '-') FROM change_events WHERE entity = 'databases' AND entity_id = ? AND op = 'deleted'`, org+"/"+dbs[3].DbID)
	if got != "observed -" {
		t.Errorf("deletion explained by an event out of its window or of another object: %q", got)
	}
	if got := e.str(`SELECT coalesce(deleted_by, '-') FROM databases WHERE id = ?`, dbs[3].DbID); got != "-" {
		t.Errorf("deleted_by %q for a deletion no event explains", got)
	}
	// The same deletion with its event in the window is explained.
	e.sim.SetActor("carol")
	e.sim.DeleteDatabase(org, dbs[2].Name)
	pass("a logged deletion")
	if got := e.str(`SELECT source || ' ' || coalesce(actor, '-') FROM change_events WHERE entity = 'databases' AND entity_id = ? AND op = 'deleted'`, org+"/"+dbs[2].DbID); got != "audit_log carol" {
		t.Errorf("a deletion logged in its window: %q, want audit_log carol", got)
	}
}

// completePass runs a pass and fails the test unless it completed.
func (e *env) completePass(what string) {
	e.t.Helper()
	if r := e.pass(); r.Status != storage.StatusComplete {
		e.t.Fatalf("%s: %s %v", what, r.Status, r.Err)
	}
}
