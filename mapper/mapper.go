// Package mapper turns Platform API wire objects into mirror rows. Every
// function is pure: no I/O, no clock, no logger; the caller passes what
// varies (the observation day, the account's known emails).
package mapper

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/turso"
)

// EmailUserPrefix marks the id of a user known only by a pending invite.
const EmailUserPrefix = "email:"

// Roles returns the four roles of the Turso Platform, the same in every account.
func Roles() []schema.Role {
	return []schema.Role{
		{ID: "owner", Name: "Owner", Description: "Full control of the organization, including billing and deleting it."},
		{ID: "admin", Name: "Admin", Description: "Manages members, invites, databases, groups and tokens."},
		{ID: "member", Name: "Member", Description: "Creates and manages databases and groups."},
		{ID: "viewer", Name: "Viewer", Description: "Read-only access to the organization's resources."},
	}
}

// Organization maps an org.
func Organization(o turso.Organization) schema.Organization {
	return schema.Organization{
		ID: o.Slug, Name: o.Name, Type: o.Type, PlanID: o.PlanID, PlanTimeline: o.PlanTimeline,
		Overages: o.Overages, RequireMFA: o.RequireMFA, BlockedReads: o.BlockedReads, BlockedWrites: o.BlockedWrites,
		Platform: o.Platform, RemoteData: raw(o.Raw),
	}
}

// NormalizeEmail is how emails are compared: trimmed and lower-cased.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// Members maps an org's members to their users and active role assignments.
func Members(org string, ms []turso.Member) ([]schema.User, []schema.RoleAssignment) {
	users := make([]schema.User, 0, len(ms))
	ras := make([]schema.RoleAssignment, 0, len(ms))
	// A member the answer repeats is mapped each time: the stager keeps
	// the first, and counts and reports the repeats.
	for _, m := range ms {
		users = append(users, schema.User{ID: m.Username, Username: m.Username, Email: NormalizeEmail(m.Email), Status: schema.UserActive,
			RemoteData: userRemote(m.Username, m.Email)})
		ras = append(ras, schema.RoleAssignment{OrganizationID: org, UserID: m.Username, RoleID: m.Role,
			Status: schema.AssignmentActive, Source: schema.ResMembers, RemoteData: raw(m.Raw)})
	}
	return users, ras
}

// userRemote is the remote_data of a user: the identity the API gave, without
// the org-specific role, so the same person in two orgs is one unchanged row.
func userRemote(username, email string) []byte {
	// A struct with its fields in sorted order encodes to the same bytes
	// as the map of the two keys it replaced (content hashes depend on
	// them), at a fraction of the cost.
	b, _ := json.Marshal(struct {
		Email    string `json:"email"`
		Username string `json:"username"`
	}{NormalizeEmail(email), username})
	return b
}

// Directory is what an invite needs to resolve to a user: the account's
// members by normalized email, and who is a member of the invite's org.
type Directory struct {
	UserByEmail map[string]string // normalized email -> username
	OrgMembers  map[string]bool   // usernames that are members of this org
}

// Invites maps an org's pending invites. An invite whose email belongs to a
// member of the account resolves to that member's user; otherwise it makes a
// user email:<email> with status invited. Where the invitee is already a
// member of the org, the membership wins: the invite stays in invites but
// makes no role assignment.
func Invites(org string, is []turso.Invite, dir Directory) ([]schema.Invite, []schema.User, []schema.RoleAssignment) {
	invs := make([]schema.Invite, 0, len(is))
	var users []schema.User
	var ras []schema.RoleAssignment
	assigned := map[string]bool{}
	for _, inv := range is {
		email := NormalizeEmail(inv.Email)
		invs = append(invs, schema.Invite{OrganizationID: org, ID: strconv.FormatInt(inv.ID, 10), Email: email, Role: inv.Role,
			CreatedAt: inv.CreatedAt, RemoteData: raw(inv.Raw)})
		uid, ok := dir.UserByEmail[email]
		if !ok {
			uid = EmailUserPrefix + email
			if !assigned[uid] {
				users = append(users, schema.User{ID: uid, Email: email, Status: schema.UserInvited, RemoteData: userRemote("", email)})
			}
		}
		if dir.OrgMembers[uid] || assigned[uid] {
			continue
		}
		assigned[uid] = true
		ras = append(ras, schema.RoleAssignment{OrganizationID: org, UserID: uid, RoleID: inv.Role,
			Status: schema.AssignmentInvited, Source: schema.ResInvites, RemoteData: raw(inv.Raw)})
	}
	return invs, users, ras
}

// Database maps a database.
func Database(org string, d turso.Database) schema.Database {
	r := schema.Database{
		OrganizationID: org, ID: d.DbID, Name: d.Name, Hostname: d.Hostname, GroupName: d.Group,
		PrimaryRegion: d.PrimaryRegion, Regions: jsonList(d.Regions), BlockReads: d.BlockReads, BlockWrites: d.BlockWrites,
		DeleteProtection: d.DeleteProtection, Type: d.Type, Version: d.Version, IsSchema: d.IsSchema, Schema: d.Schema,
		Sleeping: d.Sleeping, Archived: d.Archived, RemoteData: raw(d.Raw),
	}
	if p := d.Parent; p != nil {
		r.ParentID, r.ParentName, r.ParentBranchedAt = &p.ID, &p.Name, &p.BranchedAt
	}
	return r
}

// Group maps a group.
func Group(org string, g turso.Group) schema.Group {
	id := g.UUID
	if id == "" {
		id = "name:" + g.Name // older API versions sent no uuid
	}
	return schema.Group{OrganizationID: org, ID: id, Name: g.Name, PrimaryLocation: g.Primary, Locations: jsonList(g.Locations),
		Version: g.Version, DeleteProtection: g.DeleteProtection, Archived: g.Archived, RemoteData: raw(g.Raw)}
}

// APIToken maps an org API token's metadata.
func APIToken(org string, t turso.APIToken) schema.APIToken {
	r := schema.APIToken{OrganizationID: org, ID: t.ID, Name: t.Name, GroupName: t.Group, Scopes: jsonList(t.Scopes),
		CreatedAt: t.CreatedAt, RemoteData: raw(t.Raw)}
	if t.Owner != nil {
		r.OwnerUsername, r.OwnerEmail = t.Owner.Username, NormalizeEmail(t.Owner.Email)
	}
	return r
}

// AuditLog maps an audit event; its id is a hash of its content, since the
// API gives events no id.
func AuditLog(org string, a turso.AuditLog) schema.AuditLog {
	data := "{}"
	if len(a.Data) > 0 && string(a.Data) != "null" {
		data = string(compact(a.Data))
	}
	h := sha256.New()
	for _, part := range []string{a.Code, a.Message, a.Origin, a.Author, a.CreatedAt, data} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return schema.AuditLog{OrganizationID: org, ID: hex.EncodeToString(h.Sum(nil))[:32], Code: a.Code, Message: a.Message,
		Origin: a.Origin, Author: a.Author, CreatedAt: a.CreatedAt, Data: data, RemoteData: raw(a.Raw)}
}

// OrgUsage maps the org's own usage counters: the row whose database_id is empty.
func OrgUsage(org, day string, u turso.OrgUsage) schema.Usage {
	orgRemote, _ := json.Marshal(map[string]any{"uuid": u.UUID, "usage": u.Usage})
	return schema.Usage{OrganizationID: org, Day: day, RowsRead: u.Usage.RowsRead, RowsWritten: u.Usage.RowsWritten,
		StorageBytes: u.Usage.StorageBytes, BytesSynced: u.Usage.BytesSynced, RemoteData: orgRemote}
}

// DatabaseUsage maps a page of databases' usage; an entry without a uuid
// names no database and is skipped.
func DatabaseUsage(org, day string, ds []turso.DatabaseUsage) []schema.Usage {
	out := make([]schema.Usage, 0, len(ds))
	for _, d := range ds {
		if d.UUID == "" {
			continue
		}
		c := d.Counters
		out = append(out, schema.Usage{OrganizationID: org, Day: day, DatabaseID: d.UUID, RowsRead: c.RowsRead, RowsWritten: c.RowsWritten,
			StorageBytes: c.StorageBytes, BytesSynced: c.BytesSynced, RemoteData: raw(d.Raw)})
	}
	return out
}

// Locations maps the locations list.
func Locations(ls []turso.Location) []schema.Location {
	out := make([]schema.Location, len(ls))
	for i, l := range ls {
		out[i] = schema.Location{Code: l.Code, Description: l.Description}
	}
	return out
}

func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func raw(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

func compact(b json.RawMessage) []byte {
	var out strings.Builder
	var m any
	if json.Unmarshal(b, &m) != nil {
		return []byte("{}")
	}
	// Re-marshal sorts object keys, so the same event always hashes alike.
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if enc.Encode(m) != nil {
		return []byte("{}")
	}
	return []byte(strings.TrimSuffix(out.String(), "\n"))
}
