// Package schema owns the mirror's shape: the embedded goose migrations that
// create every table and view, the table descriptors the writer uses, and the
// Go row types that match the tables.
//
// This file holds what a resource adds to the schema, in one place: the
// Registry entry, each table it feeds (schema.Table with its Doc) and the
// row type. resources.go holds what a Registry entry means.
package schema

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the goose migrations, numbered SQL files at the root.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embed pattern above guarantees the folder
	}
	return sub
}

// Table describes an entity table: its key columns after account_id and its
// content columns in the order Row.Values returns them. Entity tables carry
// the bookkeeping columns content_hash, remote_data, first_seen_at,
// updated_at, deleted_at and deleted_reason as well.
type Table struct {
	Name    string
	Keys    []string
	Columns []string
	// SinceColumn, when set, is stamped when the row is created and again
	// whenever SinceOf changes: "since when does this row hold its value".
	SinceColumn, SinceOf string
	// OrgColumn holds the org a row belongs to: "id" for organizations,
	// "organization_id" for the org tables, "" for account-wide tables.
	OrgColumn string
	// RefreshedColumn, when set, is stamped on every row a pass fetched,
	// changed or not: what a budgeted resource refreshes first.
	RefreshedColumn string
	// AppendOnly tables have no bookkeeping columns: their rows are never
	// tombstoned, and every row is live.
	AppendOnly bool
	// Doc describes the table and every column to the mirror's readers
	// (schema.Dictionary, docs/tables.md): a table is described where it
	// is defined.
	Doc Doc
}

// Quoted is the table name quoted for SQL ("groups" is a keyword).
func (t *Table) Quoted() string { return `"` + t.Name + `"` }

// Rows is a slice of a row type as rows.
func Rows[T Row](xs []T) []Row {
	out := make([]Row, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// Row is one entity row, whatever its table.
type Row interface {
	Table() *Table
	// KeyValues are the key columns after account_id, in Table.Keys order.
	KeyValues() []string
	// Values are the content columns, in Table.Columns order.
	Values() []any
	// Remote is the API object as received, for remote_data.
	Remote() []byte
}

// Resource names: the scopes of a pass, as in defaults.resources.
const (
	ResOrganization    = "organization"
	ResMembers         = "members"
	ResInvites         = "invites"
	ResDatabases       = "databases"
	ResGroups          = "groups"
	ResAPITokens       = "api_tokens"
	ResAuditLogs       = "audit_logs"
	ResUsage           = "usage"
	ResSubscriptions   = "subscriptions"
	ResPlans           = "plans"
	ResInvoices        = "invoices"
	ResAccountUsers    = "account_users"
	ResDatabaseDetails = "database_details"
)

// Registry lists every resource in the order a pass handles them: the
// account's own first, then, per org, members before invites so an invite
// can resolve to a member's user, and databases before their details.
var Registry = []*Resource{
	{Name: ResAccountUsers, PerAccount: true, Feeds: []Feed{{Table: AccountUsers, Guard: true}}},
	{Name: ResOrganization, Feeds: []Feed{{Table: Organizations, Guard: true}}},
	{Name: ResMembers, Feeds: []Feed{{Table: RoleAssignments, Filter: "source = 'members'", Guard: true}}},
	{Name: ResInvites, Feeds: []Feed{{Table: Invites, Guard: true, Vanish: AcceptedOrRevoked},
		{Table: RoleAssignments, Filter: "source = 'invites'", Vanish: AcceptedOrRevoked}}},
	{Name: ResDatabases, Feeds: []Feed{{Table: Databases, Guard: true}}},
	{Name: ResGroups, Feeds: []Feed{{Table: Groups, Guard: true}}},
	{Name: ResAPITokens, Feeds: []Feed{{Table: APITokens, Guard: true}}},
	{Name: ResSubscriptions, Feeds: []Feed{{Table: Subscriptions, Guard: true}},
		After: []Statement{{SQL: `UPDATE organizations SET pricing_plan = (SELECT s.plan FROM subscriptions s
			WHERE s.account_id = organizations.account_id AND s.organization_id = organizations.id AND s.deleted_at IS NULL)
			WHERE account_id = ? AND id = ?`, Args: []Arg{ArgAccount, ArgOrg}}}},
	{Name: ResPlans, Feeds: []Feed{{Table: Plans, Guard: true}}},
	{Name: ResInvoices, Feeds: []Feed{{Table: Invoices, Guard: true}}},
	{Name: ResAuditLogs, Kind: Appended, Feeds: []Feed{{Table: AuditLogs, Guard: true}}},
	{Name: ResUsage, Kind: Counters, Feeds: []Feed{{Table: UsageDays, Guard: true}}},
	{Name: ResDatabaseDetails, OptIn: true, Partial: true, Feeds: []Feed{{Table: DatabaseDetails, Guard: true}},
		// A database's details go with the database, in the commit that
		// tombstones it (databases come first in the same commit).
		After: []Statement{
			{SQL: `INSERT INTO change_events (account_id, run_id, at, entity, entity_id, organization_id, op, changes)
			SELECT dd.account_id, ?, ?, 'database_details', dd.organization_id || '/' || dd.id, dd.organization_id, 'deleted',
			       json_object('deleted_reason', json_object('new', 'removed', 'old', NULL))
			FROM database_details dd WHERE dd.account_id = ? AND dd.organization_id = ? AND dd.deleted_at IS NULL AND NOT EXISTS (
			  SELECT 1 FROM databases d WHERE d.account_id = dd.account_id AND d.organization_id = dd.organization_id AND d.id = dd.id AND d.deleted_at IS NULL)`,
				Args: []Arg{ArgRunID, ArgAt, ArgAccount, ArgOrg}},
			{SQL: `UPDATE database_details SET deleted_at = ?, deleted_reason = 'removed', updated_at = ?
			WHERE account_id = ? AND organization_id = ? AND deleted_at IS NULL AND NOT EXISTS (
			  SELECT 1 FROM databases d WHERE d.account_id = database_details.account_id AND d.organization_id = database_details.organization_id
			    AND d.id = database_details.id AND d.deleted_at IS NULL)`,
				Args: []Arg{ArgAt, ArgAt, ArgAccount, ArgOrg}},
		}},
}

// The entity tables. OrgColumn is the column that says which org a row
// belongs to ("" for the account-wide tables).
var (
	Organizations = &Table{Name: "organizations", Keys: []string{"id"}, OrgColumn: "id",
		Columns: []string{"organization_id", "name", "type", "plan_id", "plan_timeline", "overages", "require_mfa", "blocked_reads", "blocked_writes", "platform"},
		Doc: entity("organizations", "Each Turso organization the account's token sees (the Unified User Directory's Organization).", "GET /v1/organizations",
			col("id", "TEXT", "The org's slug: the key every org-scoped table joins on.", "slug"),
			col("organization_id", "TEXT", "The slug again, so that every table joins on organization_id.", "slug"),
			col("name", "TEXT", "The org's display name.", "name"),
			col("type", "TEXT", "What kind of org it is.", "type", v("personal", "the user's own org"), v("team", "a shared org")),
			col("plan_id", "TEXT", "The plan the org is on, as the org list gives it.", "plan_id"),
			col("plan_timeline", "TEXT", "The plan's billing period.", "plan_timeline"),
			col("overages", "INTEGER", "1 when usage past the plan's quotas is billed instead of blocked.", "overages"),
			col("require_mfa", "INTEGER", "1 when members must use multi-factor authentication.", "require_mfa"),
			col("blocked_reads", "INTEGER", "1 when reads are blocked (quota or billing).", "blocked_reads"),
			col("blocked_writes", "INTEGER", "1 when writes are blocked (quota or billing).", "blocked_writes"),
			col("platform", "TEXT", "The platform that provisions the org, when it is managed by one (for example Vercel); empty otherwise.", "platform"),
		).with(col("pricing_plan", "TEXT", "The org's plan from its subscription (the Unified User Directory's Organization.pricing_plan); NULL until the subscriptions scope ran.", "GET .../subscription plan"))}
	Users = &Table{Name: "users", Keys: []string{"id"},
		Columns: []string{"username", "email", "status"},
		Doc: entity("users", "Every person the account's orgs know: members (id = username) and people only invited (id = `email:` and the address). The Unified User Directory's User.", "GET /v1/organizations/{org}/members and .../invites",
			col("id", "TEXT", "The username, or `email:<address>` for someone only invited.", "username; derived for invites"),
			col("username", "TEXT", "The Turso username (empty for an invited person).", "members[].username"),
			col("email", "TEXT", "The email, trimmed and lower-cased.", "members[].email, invites[].email"),
			col("status", "TEXT", "The user's status across the account's orgs, recomputed when every org it belongs to synced its members and invites.", "derived",
				v("active", "a member of at least one org"), v("invited", "only invited, nowhere a member"), v("inactive", "neither any more")),
		)}
	Roles = &Table{Name: "roles", Keys: []string{"id"},
		Columns: []string{"name", "description"},
		Doc: entity("roles", "The four roles of the Turso Platform, the same in every account (the Unified User Directory's Role).", "derived: constants",
			col("id", "TEXT", "The role.", "constant", roleValues...),
			col("name", "TEXT", "The role's display name.", "constant"),
			col("description", "TEXT", "What the role may do.", "constant"),
		)}
	RoleAssignments = &Table{Name: "role_assignments", Keys: []string{"organization_id", "user_id"}, OrgColumn: "organization_id", SinceColumn: "role_since", SinceOf: "role_id",
		Columns: []string{"role_id", "status", "source"},
		Doc: Doc{Name: "role_assignments", Kind: KindTable, Description: "Who holds which role in which org: one row per user and org (the Unified User Directory's RoleAssignment). A pending invite is an assignment with status invited.",
			Source: "GET /v1/organizations/{org}/members and .../invites", Columns: append([]ColumnDoc{colAccount, colOrg,
				col("user_id", "TEXT", "The user (users.id).", "members[].username, or derived from invites[].email"),
				col("role_id", "TEXT", "The role (roles.id).", "members[].role, invites[].role", roleValues...),
				col("status", "TEXT", "Whether the user holds the role or is invited to it.", "derived", v("active", "a member"), v("invited", "a pending invite")),
				col("source", "TEXT", "Which resource the assignment comes from.", "derived", v("members", "the org's member list"), v("invites", "a pending invite")),
				col("role_since", "TEXT", "Since when the mirror has seen this role: the first sighting, or the pass that saw the role change. access_review.since prefers the audit log's time.", "derived"),
			}, append(bookkeeping(), deletedBy()...)...)}}
	Invites = &Table{Name: "invites", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"email", "role", "created_at"},
		Doc: entity("invites", "Pending invitations of each org.", "GET /v1/organizations/{org}/invites",
			colOrg,
			col("id", "TEXT", "The invite's id.", "id"),
			col("email", "TEXT", "Who is invited, trimmed and lower-cased.", "email"),
			col("role", "TEXT", "The role the invite grants.", "role", roleValues...),
			col("created_at", "TEXT", "When the invite was sent.", "created_at"),
		).with(deletedBy()...)}
	Databases = &Table{Name: "databases", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"name", "hostname", "group_name", "primary_region", "regions", "block_reads", "block_writes", "delete_protection",
			"parent_id", "parent_name", "parent_branched_at", "type", "version", "is_schema", "schema", "sleeping", "archived"},
		Doc: entity("databases", "Each database of each org.", "GET /v1/organizations/{org}/databases",
			colOrg,
			col("id", "TEXT", "The database's id.", "DbId"),
			col("name", "TEXT", "The database's name.", "Name"),
			col("hostname", "TEXT", "Where clients connect.", "Hostname"),
			col("group_name", "TEXT", "The group the database lives in (groups.name).", "group"),
			col("primary_region", "TEXT", "The primary location's code (locations.code).", "primaryRegion"),
			col("regions", "TEXT", "Every location the database is in, a JSON array of codes.", "regions"),
			col("block_reads", "INTEGER", "1 when reads are blocked.", "block_reads"),
			col("block_writes", "INTEGER", "1 when writes are blocked.", "block_writes"),
			col("delete_protection", "INTEGER", "1 when the database cannot be deleted until protection is lifted.", "delete_protection"),
			col("parent_id", "TEXT", "The database this one was branched from (NULL if none).", "parent.id"),
			col("parent_name", "TEXT", "The parent's name.", "parent.name"),
			col("parent_branched_at", "TEXT", "When it was branched.", "parent.branched_at"),
			col("type", "TEXT", "The database's type, as older API versions report it.", "type"),
			col("version", "TEXT", "The server version.", "version"),
			col("is_schema", "INTEGER", "1 for a schema database (older API versions).", "is_schema"),
			col("schema", "TEXT", "The schema database this one follows (older API versions).", "schema"),
			col("sleeping", "INTEGER", "1 when the database is asleep.", "sleeping"),
			col("archived", "INTEGER", "1 when the database is archived.", "archived"),
		).with(deletedBy()...)}
	Groups = &Table{Name: "groups", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"name", "primary_location", "locations", "version", "delete_protection", "archived"},
		Doc: entity("groups", "Each group of each org: where its databases are placed.", "GET /v1/organizations/{org}/groups",
			colOrg,
			col("id", "TEXT", "The group's uuid, or `name:<name>` where the API sends none.", "uuid"),
			col("name", "TEXT", "The group's name.", "name"),
			col("primary_location", "TEXT", "The primary location's code.", "primary"),
			col("locations", "TEXT", "Every location of the group, a JSON array of codes.", "locations"),
			col("version", "TEXT", "The server version of the group.", "version"),
			col("delete_protection", "INTEGER", "1 when the group cannot be deleted.", "delete_protection"),
			col("archived", "INTEGER", "1 when the group is archived.", "archived"),
		).with(deletedBy()...)}
	APITokens = &Table{Name: "api_tokens", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"name", "group_name", "scopes", "owner_username", "owner_email", "created_at"},
		Doc: entity("api_tokens", "The org's Platform API tokens: metadata only, never the token.", "GET /v1/organizations/{org}/api-tokens",
			colOrg,
			col("id", "TEXT", "The token's id.", "id"),
			col("name", "TEXT", "The token's name.", "name"),
			col("group_name", "TEXT", "The group the token is restricted to (empty: none).", "group"),
			col("scopes", "TEXT", "What the token may do, a JSON array.", "scopes"),
			col("owner_username", "TEXT", "Who minted it.", "owner.username"),
			col("owner_email", "TEXT", "The owner's email, lower-cased.", "owner.email"),
			col("created_at", "TEXT", "When it was minted.", "created_at"),
		).with(deletedBy()...)}
)

// The append-only tables: rows are added (usage's day rows updated in
// place), never tombstoned.
var (
	AuditLogs = &Table{Name: "audit_logs", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id", AppendOnly: true,
		Doc: Doc{Name: "audit_logs", Kind: KindTable, Description: "Each org's audit log, appended (never tombstoned).", Source: "GET /v1/organizations/{org}/audit-logs",
			Columns: []ColumnDoc{colAccount, colOrg,
				col("id", "TEXT", "A hash of the event's content (the API gives events no id).", "derived"),
				col("code", "TEXT", "What happened.", "code", auditCodes...),
				col("message", "TEXT", "The event's message.", "message"),
				col("origin", "TEXT", "Where it was done from (cli, web, api).", "origin"),
				col("author", "TEXT", "Who did it: a username.", "author"),
				col("created_at", "TEXT", "When it happened.", "created_at"),
				col("data", "TEXT", "The event's data, JSON; its shape depends on the code (org-member-add: {username, role}).", "data"),
				col("remote_data", "TEXT", "The event as received.", "the API object"),
				col("first_seen_at", "TEXT", "When the mirror stored it.", "derived: the pass's time"),
				col("object", "TEXT", "The name the event gives its object: data.name, else data.username (a generated column).", "derived: from data"),
			}}}
	UsageDays = &Table{Name: "usage", Keys: []string{"organization_id", "day", "database_id"}, OrgColumn: "organization_id", AppendOnly: true,
		Doc: Doc{Name: "usage", Kind: KindTable, Description: "Daily usage counters, per database and per org (database_id = ''), overwritten through the day.", Source: "GET /v1/organizations/{org}/usage",
			Columns: []ColumnDoc{colAccount, colOrg,
				col("day", "TEXT", "The UTC day (YYYY-MM-DD).", "derived: the pass's day"),
				col("database_id", "TEXT", "The database (databases.id), or '' for the org's total.", "databases[].uuid"),
				col("rows_read", "INTEGER", "Rows read in the current period.", "usage.rows_read"),
				col("rows_written", "INTEGER", "Rows written in the current period.", "usage.rows_written"),
				col("storage_bytes", "INTEGER", "Storage in bytes.", "usage.storage_bytes"),
				col("bytes_synced", "INTEGER", "Bytes synced in the current period.", "usage.bytes_synced"),
				col("observed_at", "TEXT", "When the pass read the counters.", "derived: the pass's time"),
				col("remote_data", "TEXT", "The counters as received.", "the API object"),
			}}}
)

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Organization is a row of organizations; ID is the org slug.
type Organization struct {
	ID            string
	Name          string
	Type          string
	PlanID        string
	PlanTimeline  string
	Overages      bool
	RequireMFA    bool
	BlockedReads  bool
	BlockedWrites bool
	Platform      string
	RemoteData    []byte
}

func (r Organization) Table() *Table       { return Organizations }
func (r Organization) KeyValues() []string { return []string{r.ID} }
func (r Organization) Remote() []byte      { return r.RemoteData }
func (r Organization) Values() []any {
	return []any{r.ID, r.Name, r.Type, r.PlanID, r.PlanTimeline, b2i(r.Overages), b2i(r.RequireMFA), b2i(r.BlockedReads), b2i(r.BlockedWrites), r.Platform}
}

// User statuses.
const (
	UserActive   = "active"
	UserInvited  = "invited"
	UserInactive = "inactive"
)

// User is a row of users: one person across the account's orgs.
type User struct {
	ID         string // Turso username, or email:<lower-cased email>
	Username   string
	Email      string
	Status     string
	RemoteData []byte
}

func (r User) Table() *Table       { return Users }
func (r User) KeyValues() []string { return []string{r.ID} }
func (r User) Remote() []byte      { return r.RemoteData }
func (r User) Values() []any       { return []any{r.Username, r.Email, r.Status} }

// Role is a row of roles.
type Role struct {
	ID          string
	Name        string
	Description string
}

func (r Role) Table() *Table       { return Roles }
func (r Role) KeyValues() []string { return []string{r.ID} }
func (r Role) Remote() []byte      { return []byte("{}") }
func (r Role) Values() []any       { return []any{r.Name, r.Description} }

// Assignment statuses and sources.
const (
	AssignmentActive  = "active"
	AssignmentInvited = "invited"
)

// RoleAssignment is a row of role_assignments: the edge an access review
// reads. Source is the scope that feeds it (members or invites).
type RoleAssignment struct {
	OrganizationID string
	UserID         string
	RoleID         string
	Status         string
	Source         string
	RemoteData     []byte
}

func (r RoleAssignment) Table() *Table       { return RoleAssignments }
func (r RoleAssignment) KeyValues() []string { return []string{r.OrganizationID, r.UserID} }
func (r RoleAssignment) Remote() []byte      { return r.RemoteData }
func (r RoleAssignment) Values() []any       { return []any{r.RoleID, r.Status, r.Source} }

// Invite is a row of invites.
type Invite struct {
	OrganizationID string
	ID             string
	Email          string
	Role           string
	CreatedAt      string
	RemoteData     []byte
}

func (r Invite) Table() *Table       { return Invites }
func (r Invite) KeyValues() []string { return []string{r.OrganizationID, r.ID} }
func (r Invite) Remote() []byte      { return r.RemoteData }
func (r Invite) Values() []any       { return []any{r.Email, r.Role, r.CreatedAt} }

// Database is a row of databases; ID is the API's DbId.
type Database struct {
	OrganizationID   string
	ID               string
	Name             string
	Hostname         string
	GroupName        string
	PrimaryRegion    string
	Regions          string // JSON array
	BlockReads       bool
	BlockWrites      bool
	DeleteProtection bool
	ParentID         *string
	ParentName       *string
	ParentBranchedAt *string
	Type             string
	Version          string
	IsSchema         bool
	Schema           string
	Sleeping         bool
	Archived         bool
	RemoteData       []byte
}

func (r Database) Table() *Table       { return Databases }
func (r Database) KeyValues() []string { return []string{r.OrganizationID, r.ID} }
func (r Database) Remote() []byte      { return r.RemoteData }
func (r Database) Values() []any {
	return []any{r.Name, r.Hostname, r.GroupName, r.PrimaryRegion, r.Regions, b2i(r.BlockReads), b2i(r.BlockWrites), b2i(r.DeleteProtection),
		nullable(r.ParentID), nullable(r.ParentName), nullable(r.ParentBranchedAt), r.Type, r.Version, b2i(r.IsSchema), r.Schema, b2i(r.Sleeping), b2i(r.Archived)}
}

func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// Group is a row of groups; ID is the group's uuid.
type Group struct {
	OrganizationID   string
	ID               string
	Name             string
	PrimaryLocation  string
	Locations        string // JSON array
	Version          string
	DeleteProtection bool
	Archived         bool
	RemoteData       []byte
}

func (r Group) Table() *Table       { return Groups }
func (r Group) KeyValues() []string { return []string{r.OrganizationID, r.ID} }
func (r Group) Remote() []byte      { return r.RemoteData }
func (r Group) Values() []any {
	return []any{r.Name, r.PrimaryLocation, r.Locations, r.Version, b2i(r.DeleteProtection), b2i(r.Archived)}
}

// APIToken is a row of api_tokens: names and ids, never a token value.
type APIToken struct {
	OrganizationID string
	ID             string
	Name           string
	GroupName      string
	Scopes         string // JSON array
	OwnerUsername  string
	OwnerEmail     string
	CreatedAt      string
	RemoteData     []byte
}

func (r APIToken) Table() *Table       { return APITokens }
func (r APIToken) KeyValues() []string { return []string{r.OrganizationID, r.ID} }
func (r APIToken) Remote() []byte      { return r.RemoteData }
func (r APIToken) Values() []any {
	return []any{r.Name, r.GroupName, r.Scopes, r.OwnerUsername, r.OwnerEmail, r.CreatedAt}
}

// AuditLog is a row of the append-only audit_logs; ID is a hash of the
// event's content.
type AuditLog struct {
	OrganizationID string
	ID             string
	Code           string
	Message        string
	Origin         string
	Author         string
	CreatedAt      string
	Data           string // JSON
	RemoteData     []byte
}

// Usage is a row of the usage time series; DatabaseID is "" for the org.
type Usage struct {
	OrganizationID string
	Day            string // YYYY-MM-DD, UTC
	DatabaseID     string
	RowsRead       int64
	RowsWritten    int64
	StorageBytes   int64
	BytesSynced    int64
	RemoteData     []byte
}

// Location is a row of locations.
type Location struct {
	Code        string
	Description string
}

// The tables of the billing and account resources (migration 00008).
var (
	AccountUsers = &Table{Name: "account_users", Keys: []string{"id"},
		Columns: []string{"username", "name", "email", "plan", "mfa", "avatar_url", "has_pending_invites"},
		Doc: entity("account_users", "Who owns the token each account uses.", "GET /v1/user, once per account pass",
			col("id", "TEXT", "The owner's username.", "username"),
			col("username", "TEXT", "The owner's username.", "username"),
			col("name", "TEXT", "The owner's name.", "name"),
			col("email", "TEXT", "The owner's email.", "email"),
			col("plan", "TEXT", "The owner's plan.", "plan"),
			col("mfa", "INTEGER", "1 when the owner uses multi-factor authentication.", "mfa"),
			col("avatar_url", "TEXT", "The owner's avatar.", "avatar_url"),
			col("has_pending_invites", "INTEGER", "1 when the owner has invitations to answer.", "has_pending_invites"),
		)}
	Subscriptions = &Table{Name: "subscriptions", Keys: []string{"organization_id"}, OrgColumn: "organization_id", SinceColumn: "plan_since", SinceOf: "plan",
		Columns: []string{"plan", "name", "timeline", "overages"},
		Doc: entity("subscriptions", "Each org's subscription.", "GET /v1/organizations/{org}/subscription",
			colOrg,
			col("plan", "TEXT", "The plan's id.", "subscription.plan"),
			col("name", "TEXT", "The plan's name.", "subscription.name"),
			col("timeline", "TEXT", "The billing period.", "subscription.timeline"),
			col("overages", "INTEGER", "1 when overages are billed.", "subscription.overages"),
			col("plan_since", "TEXT", "Since when the org has been on this plan, as the mirror saw it.", "derived"),
		)}
	Plans = &Table{Name: "plans", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"price", "prices", "quota_rows_read", "quota_rows_written", "quota_databases", "quota_locations", "quota_storage_bytes",
			"quota_groups", "quota_bytes_synced"},
		Doc: entity("plans", "The plans an org can be on, with their quotas (NULL where the API gives none).", "GET /v1/organizations/{org}/plans",
			colOrg,
			col("id", "TEXT", "The plan's name.", "plans[].name"),
			col("price", "TEXT", "The plan's price, as the API formats it.", "plans[].price"),
			col("prices", "TEXT", "Its prices, a JSON array of {value, timeline}.", "plans[].prices"),
			col("quota_rows_read", "INTEGER", "Rows read a month.", "plans[].quotas.rowsRead"),
			col("quota_rows_written", "INTEGER", "Rows written a month.", "plans[].quotas.rowsWritten"),
			col("quota_databases", "INTEGER", "Databases.", "plans[].quotas.databases"),
			col("quota_locations", "INTEGER", "Locations.", "plans[].quotas.locations"),
			col("quota_storage_bytes", "INTEGER", "Storage, in bytes.", "plans[].quotas.storage"),
			col("quota_groups", "INTEGER", "Groups.", "plans[].quotas.groups"),
			col("quota_bytes_synced", "INTEGER", "Bytes synced a month.", "plans[].quotas.bytesSynced"),
		)}
	Invoices = &Table{Name: "invoices", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"amount_due", "due_date", "paid_at", "payment_failed_at", "paid", "status", "invoice_pdf", "hosted_invoice_url"},
		Doc: entity("invoices", "Each org's invoices.", "GET /v1/organizations/{org}/invoices?type=all",
			colOrg,
			col("id", "TEXT", "The invoice number.", "invoice_number"),
			col("amount_due", "TEXT", "What is due, in USD, as the API formats it.", "amount_due"),
			col("due_date", "TEXT", "When it is due.", "due_date"),
			col("paid_at", "TEXT", "When it was paid (NULL: not yet).", "paid_at"),
			col("payment_failed_at", "TEXT", "When a payment failed.", "payment_failed_at"),
			col("paid", "INTEGER", "1 once paid_at is set.", "derived: paid_at IS NOT NULL"),
			col("status", "TEXT", "The invoice's status, as the API gives it.", "status"),
			col("invoice_pdf", "TEXT", "The invoice's PDF.", "invoice_pdf"),
			col("hosted_invoice_url", "TEXT", "The invoice's page.", "hosted_invoice_url"),
		)}
	DatabaseDetails = &Table{Name: "database_details", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id", RefreshedColumn: "refreshed_at",
		Columns: []string{"name", "size_limit", "allow_attach", "block_reads", "block_writes", "delete_protection", "allowed_ips",
			"allowed_aws_vpc_ids", "instances"},
		Doc: entity("database_details", "Each database's configuration and instances (opt-in: two requests per database, budgeted per pass).", "GET .../databases/{db}/configuration and .../instances",
			colOrg,
			col("id", "TEXT", "The database's id (databases.id).", "DbId"),
			col("name", "TEXT", "The database's name.", "Name"),
			col("size_limit", "TEXT", "The size limit.", "configuration.size_limit"),
			col("allow_attach", "INTEGER", "1 when other databases may attach it.", "configuration.allow_attach"),
			col("block_reads", "INTEGER", "1 when reads are blocked.", "configuration.block_reads"),
			col("block_writes", "INTEGER", "1 when writes are blocked.", "configuration.block_writes"),
			col("delete_protection", "INTEGER", "1 when deletes are refused.", "configuration.delete_protection"),
			col("allowed_ips", "TEXT", "The IP allow-list, a JSON array.", "configuration.allowed_ips"),
			col("allowed_aws_vpc_ids", "TEXT", "The AWS VPC allow-list, a JSON array.", "configuration.allowed_aws_vpc_ids"),
			col("instances", "TEXT", "The database's instances, a JSON array of {uuid, name, type, region, hostname}.", "instances"),
			col("refreshed_at", "TEXT", "When a pass last fetched the details, changed or not.", "derived: the pass's time"),
		)}
)

// AccountUser is a row of account_users: the Turso user who owns the token
// an account uses. ID is the username.
type AccountUser struct {
	ID                string
	Name              string
	Email             string
	Plan              string
	MFA               bool
	AvatarURL         string
	HasPendingInvites bool
	RemoteData        []byte
}

func (r AccountUser) Table() *Table       { return AccountUsers }
func (r AccountUser) KeyValues() []string { return []string{r.ID} }
func (r AccountUser) Remote() []byte      { return r.RemoteData }
func (r AccountUser) Values() []any {
	return []any{r.ID, r.Name, r.Email, r.Plan, b2i(r.MFA), r.AvatarURL, b2i(r.HasPendingInvites)}
}

// Subscription is a row of subscriptions: an org's current plan.
type Subscription struct {
	OrganizationID string
	Plan           string
	Name           string
	Timeline       string
	Overages       bool
	RemoteData     []byte
}

func (r Subscription) Table() *Table       { return Subscriptions }
func (r Subscription) KeyValues() []string { return []string{r.OrganizationID} }
func (r Subscription) Remote() []byte      { return r.RemoteData }
func (r Subscription) Values() []any {
	return []any{r.Plan, r.Name, r.Timeline, b2i(r.Overages)}
}

// Plan is a row of plans: a plan an org may be on, with its quotas. ID is
// the plan's name. A quota the API leaves out (or null) is NULL.
type Plan struct {
	OrganizationID    string
	ID                string
	Price             string
	Prices            string // JSON array of {value, timeline}
	QuotaRowsRead     *int64
	QuotaRowsWritten  *int64
	QuotaDatabases    *int64
	QuotaLocations    *int64
	QuotaStorageBytes *int64
	QuotaGroups       *int64
	QuotaBytesSynced  *int64
	RemoteData        []byte
}

func (r Plan) Table() *Table       { return Plans }
func (r Plan) KeyValues() []string { return []string{r.OrganizationID, r.ID} }
func (r Plan) Remote() []byte      { return r.RemoteData }
func (r Plan) Values() []any {
	return []any{r.Price, r.Prices, nullInt(r.QuotaRowsRead), nullInt(r.QuotaRowsWritten), nullInt(r.QuotaDatabases), nullInt(r.QuotaLocations),
		nullInt(r.QuotaStorageBytes), nullInt(r.QuotaGroups), nullInt(r.QuotaBytesSynced)}
}

func nullInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// Invoice is a row of invoices; ID is the invoice number.
type Invoice struct {
	OrganizationID   string
	ID               string
	AmountDue        string // as the API formats it, in USD
	DueDate          string
	PaidAt           string
	PaymentFailedAt  string
	Paid             bool
	Status           string
	InvoicePDF       string
	HostedInvoiceURL string
	RemoteData       []byte
}

func (r Invoice) Table() *Table       { return Invoices }
func (r Invoice) KeyValues() []string { return []string{r.OrganizationID, r.ID} }
func (r Invoice) Remote() []byte      { return r.RemoteData }
func (r Invoice) Values() []any {
	return []any{r.AmountDue, r.DueDate, r.PaidAt, r.PaymentFailedAt, b2i(r.Paid), r.Status, r.InvoicePDF, r.HostedInvoiceURL}
}

// DatabaseDetail is a row of database_details: one database's
// configuration and instances; ID is the database's DbId.
type DatabaseDetail struct {
	OrganizationID   string
	ID               string
	Name             string
	SizeLimit        string
	AllowAttach      *bool
	BlockReads       bool
	BlockWrites      bool
	DeleteProtection *bool
	AllowedIPs       string // JSON array
	AllowedVPCs      string // JSON array
	Instances        string // JSON array of {uuid, name, type, region, hostname}
	RemoteData       []byte
}

func (r DatabaseDetail) Table() *Table       { return DatabaseDetails }
func (r DatabaseDetail) KeyValues() []string { return []string{r.OrganizationID, r.ID} }
func (r DatabaseDetail) Remote() []byte      { return r.RemoteData }
func (r DatabaseDetail) Values() []any {
	return []any{r.Name, r.SizeLimit, nullBool(r.AllowAttach), b2i(r.BlockReads), b2i(r.BlockWrites), nullBool(r.DeleteProtection),
		r.AllowedIPs, r.AllowedVPCs, r.Instances}
}

func nullBool(p *bool) any {
	if p == nil {
		return nil
	}
	return b2i(*p)
}
