// Package schema owns the mirror's shape: the embedded goose migrations that
// create every table and view, the table descriptors the writer uses, and the
// Go row types that match the tables.
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

// The entity tables. OrgColumn is the column that says which org a row
// belongs to ("" for the account-wide tables).
var (
	Organizations = &Table{Name: "organizations", Keys: []string{"id"}, OrgColumn: "id",
		Columns: []string{"organization_id", "name", "type", "plan_id", "plan_timeline", "overages", "require_mfa", "blocked_reads", "blocked_writes", "platform"}}
	Users = &Table{Name: "users", Keys: []string{"id"},
		Columns: []string{"username", "email", "status"}}
	Roles = &Table{Name: "roles", Keys: []string{"id"},
		Columns: []string{"name", "description"}}
	RoleAssignments = &Table{Name: "role_assignments", Keys: []string{"organization_id", "user_id"}, OrgColumn: "organization_id", SinceColumn: "role_since", SinceOf: "role_id",
		Columns: []string{"role_id", "status", "source"}}
	Invites = &Table{Name: "invites", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"email", "role", "created_at"}}
	Databases = &Table{Name: "databases", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"name", "hostname", "group_name", "primary_region", "regions", "block_reads", "block_writes", "delete_protection",
			"parent_id", "parent_name", "parent_branched_at", "type", "version", "is_schema", "schema", "sleeping", "archived"}}
	Groups = &Table{Name: "groups", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"name", "primary_location", "locations", "version", "delete_protection", "archived"}}
	APITokens = &Table{Name: "api_tokens", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"name", "group_name", "scopes", "owner_username", "owner_email", "created_at"}}
)

// The append-only tables: rows are added (usage's day rows updated in
// place), never tombstoned.
var (
	AuditLogs = &Table{Name: "audit_logs", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id", AppendOnly: true}
	UsageDays = &Table{Name: "usage", Keys: []string{"organization_id", "day", "database_id"}, OrgColumn: "organization_id", AppendOnly: true}
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
		Columns: []string{"username", "name", "email", "plan", "mfa", "avatar_url", "has_pending_invites"}}
	Subscriptions = &Table{Name: "subscriptions", Keys: []string{"organization_id"}, OrgColumn: "organization_id", SinceColumn: "plan_since", SinceOf: "plan",
		Columns: []string{"plan", "name", "timeline", "overages"}}
	Plans = &Table{Name: "plans", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"price", "prices", "quota_rows_read", "quota_rows_written", "quota_databases", "quota_locations", "quota_storage_bytes",
			"quota_groups", "quota_bytes_synced"}}
	Invoices = &Table{Name: "invoices", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id",
		Columns: []string{"amount_due", "due_date", "paid_at", "payment_failed_at", "paid", "status", "invoice_pdf", "hosted_invoice_url"}}
	DatabaseDetails = &Table{Name: "database_details", Keys: []string{"organization_id", "id"}, OrgColumn: "organization_id", RefreshedColumn: "refreshed_at",
		Columns: []string{"name", "size_limit", "allow_attach", "block_reads", "block_writes", "delete_protection", "allowed_ips",
			"allowed_aws_vpc_ids", "instances"}}
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
