package schema

import (
	"slices"
	"strings"
)

// HistoryTables keep their past: every version a change or a tombstone
// ends is written to row_versions, read through the table's history view
// (HistoryView), and their tombstones carry the audit log's time and
// author (deleted_happened_at, deleted_by) where an Attribution matches.
// Each has the keys (organization_id, <id>).
var HistoryTables = []*Table{RoleAssignments, Invites, Databases, Groups, APITokens}

// HasHistory reports whether t is one of HistoryTables.
func HasHistory(t *Table) bool { return slices.Contains(HistoryTables, t) }

// HistoryView is the name of t's history view: role_assignment_history,
// database_history, ...
func HistoryView(t *Table) string {
	return strings.TrimSuffix(t.Name, "s") + "_history"
}

// HistoryViewSQL is the CREATE VIEW of t's history: the closed versions
// row_versions keeps, then each live row as its current version, valid
// from its last real change (updated_at). Migration 00014 holds its text;
// a test keeps the two the same.
func HistoryViewSQL(t *Table) string {
	var b strings.Builder
	id := t.Keys[1]
	b.WriteString("CREATE VIEW " + HistoryView(t) + " AS\nSELECT account_id, organization_id, row_id AS " + id)
	for _, c := range t.Columns {
		b.WriteString(",\n       json_extract(content, '$." + c + "') AS " + c)
	}
	b.WriteString(",\n       valid_from, valid_to, ended_by\nFROM row_versions WHERE entity = '" + t.Name + "'\nUNION ALL\nSELECT account_id, organization_id, " + id)
	for _, c := range t.Columns {
		b.WriteString(", " + c)
	}
	b.WriteString(", updated_at, NULL, NULL\nFROM " + t.Quoted() + " WHERE deleted_at IS NULL;")
	return b.String()
}

// VersionContent is the SQL, over the row alias r, of a version's content:
// t's columns as one JSON object.
func VersionContent(t *Table) string {
	parts := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		parts[i] = "'" + c + "', r." + c
	}
	return "json_object(" + strings.Join(parts, ", ") + ")"
}

// Attribution says which audit log events explain one kind of change:
// the event of one of Codes, in the change's org, whose data field
// DataField equals the changed object's name (Object), and that happened
// between the scope's previous complete fetch and the pass that saw the
// change. The latest such event wins; a change no rule matches keeps
// source 'observed'.
type Attribution struct {
	Table *Table
	// Ops are the change_events ops it explains.
	Ops []string
	// Column, for updated events: the column whose change it explains.
	Column string
	// Reason, for deleted events: the deleted_reason it explains.
	Reason string
	Codes  []string
	// DataField is the audit event's data field that names the object.
	DataField string
	// Object is the SQL of the object's name, over the row alias r;
	// ObjectDoc says it in words.
	Object, ObjectDoc string
	// Where, when set, further limits the rows (SQL over r).
	Where string
	// Assumed says what of the rule the official spec does not give: the
	// docs print it beside the rule.
	Assumed string
}

// The names an object has in the audit log, over the row alias r.
const (
	// userName is the username of a role assignment's user.
	userName    = `(SELECT u.username FROM users u WHERE u.account_id = r.account_id AND u.id = r.user_id)`
	userNameDoc = "the username of the assignment's user"
	// inviteeName is the username of the member an invite's email now
	// belongs to: who accepted it.
	inviteeName = `(SELECT u.username FROM users u WHERE u.account_id = r.account_id AND u.email = r.email AND u.username <> '')`
	// inviteeNameOfUser is the same for the assignment an invite implied,
	// whose user is the invite's email: user.
	inviteeNameOfUser = `(SELECT m.username FROM users u JOIN users m ON m.account_id = u.account_id AND m.email = u.email AND m.username <> ''
		WHERE u.account_id = r.account_id AND u.id = r.user_id)`
	inviteeDoc = "the username of the member with the invite's email"
	nameDoc    = "the row's name"
)

// Attributions are every rule, in the order the docs list them. The spec's
// AuditLog documents the codes (all but org-member-role-update) and says
// nothing of data's shape: DataField is assumed to be the field the
// route's request names the object by (the path's {databaseName},
// {groupName}, {username}, the POST body's name or username).
var Attributions = []Attribution{
	{Table: RoleAssignments, Ops: []string{"created", "restored"}, Codes: []string{"org-member-add"}, DataField: "username", Object: userName, ObjectDoc: userNameDoc, Where: "r.source = 'members'",
		Assumed: "data.username (the POST /members body)"},
	{Table: RoleAssignments, Ops: []string{"updated"}, Column: "role_id", Codes: []string{"org-member-role-update"}, DataField: "username", Object: userName, ObjectDoc: userNameDoc,
		Assumed: "the code: the spec lists none for PATCH /members/{username}; data.username"},
	{Table: RoleAssignments, Ops: []string{"deleted"}, Reason: "removed", Codes: []string{"org-member-rm", "org-member-leave"}, DataField: "username", Object: userName, ObjectDoc: userNameDoc,
		Assumed: "data.username (the path's {username})"},
	{Table: RoleAssignments, Ops: []string{"deleted"}, Reason: "accepted", Codes: []string{"org-member-add"}, DataField: "username",
		Object: inviteeNameOfUser, ObjectDoc: inviteeDoc, Assumed: "that accepting an invite logs org-member-add of the new member; data.username"},
	{Table: Invites, Ops: []string{"deleted"}, Reason: "accepted", Codes: []string{"org-member-add"}, DataField: "username",
		Object: inviteeName, ObjectDoc: inviteeDoc, Assumed: "that accepting an invite logs org-member-add of the new member; data.username"},
	{Table: Databases, Ops: []string{"created"}, Codes: []string{"db-create"}, DataField: "name", Object: "r.name", ObjectDoc: nameDoc, Assumed: "data.name (the POST body's name)"},
	{Table: Databases, Ops: []string{"deleted"}, Reason: "removed", Codes: []string{"db-delete"}, DataField: "name", Object: "r.name", ObjectDoc: nameDoc, Assumed: "data.name (the path's {databaseName})"},
	{Table: Databases, Ops: []string{"updated"}, Column: "delete_protection", Codes: []string{"db-protect", "db-unprotect"}, DataField: "name", Object: "r.name", ObjectDoc: nameDoc, Assumed: "data.name"},
	{Table: Groups, Ops: []string{"created"}, Codes: []string{"group-create"}, DataField: "name", Object: "r.name", ObjectDoc: nameDoc, Assumed: "data.name (the POST body's name)"},
	{Table: Groups, Ops: []string{"deleted"}, Reason: "removed", Codes: []string{"group-delete"}, DataField: "name", Object: "r.name", ObjectDoc: nameDoc, Assumed: "data.name (the path's {groupName})"},
	{Table: Groups, Ops: []string{"updated"}, Column: "delete_protection", Codes: []string{"group-protect", "group-unprotect"}, DataField: "name", Object: "r.name", ObjectDoc: nameDoc, Assumed: "data.name"},
	{Table: Groups, Ops: []string{"updated"}, Column: "archived", Codes: []string{"group-unarchive"}, DataField: "name", Object: "r.name", ObjectDoc: nameDoc, Assumed: "data.name"},
	{Table: APITokens, Ops: []string{"created"}, Codes: []string{"user-token-create", "group-token-create"}, DataField: "name", Object: "r.name", ObjectDoc: nameDoc,
		Assumed: "data.name (the path's {tokenName})"},
}

// Unattributed are the changes of HistoryTables no audit code explains in
// the spec: they always keep source 'observed'.
var Unattributed = []string{
	"invites created (no code for POST /invites)",
	"invites revoked or expired (no code for DELETE /invites/{email})",
	"api_tokens revoked (no code for DELETE /api-tokens/{tokenId})",
	"any change the table above does not list (an invite's role, a database's group or regions, ...)",
}
