package turso

import "encoding/json"

// Organization is one element of GET /v1/organizations and the body of
// GET /v1/organizations/{slug}. Note the org says blocked_reads where a
// database says block_reads.
type Organization struct {
	Name          string `json:"name"`
	Slug          string `json:"slug"`
	Type          string `json:"type"`
	Overages      bool   `json:"overages"`
	RequireMFA    bool   `json:"require_mfa"`
	BlockedReads  bool   `json:"blocked_reads"`
	BlockedWrites bool   `json:"blocked_writes"`
	PlanID        string `json:"plan_id"`
	PlanTimeline  string `json:"plan_timeline"`
	Platform      string `json:"platform"`

	Raw json.RawMessage `json:"-"`
}

// Member is one element of GET /v1/organizations/{slug}/members.
type Member struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Email    string `json:"email"`

	Raw json.RawMessage `json:"-"`
}

// Invite is one pending invite of GET /v2/organizations/{slug}/invites.
type Invite struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`

	Raw json.RawMessage `json:"-"`
}

// DatabaseParent points from a branch to the database it was branched from.
type DatabaseParent struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	BranchedAt string `json:"branched_at"`
}

// Database is one element of the databases list. The API mixes PascalCase
// (Name, DbId, Hostname), camelCase (primaryRegion) and snake_case keys in
// one object; the tags spell them exactly as sent.
type Database struct {
	Name             string          `json:"Name"`
	DbID             string          `json:"DbId"`
	Hostname         string          `json:"Hostname"`
	BlockReads       bool            `json:"block_reads"`
	BlockWrites      bool            `json:"block_writes"`
	Regions          []string        `json:"regions"`
	PrimaryRegion    string          `json:"primaryRegion"`
	Group            string          `json:"group"`
	DeleteProtection bool            `json:"delete_protection"`
	Parent           *DatabaseParent `json:"parent"`
	// Fields the spec dropped in 2025-04 but clients still read.
	Type     string `json:"type"`
	Version  string `json:"version"`
	IsSchema bool   `json:"is_schema"`
	Schema   string `json:"schema"`
	Sleeping bool   `json:"sleeping"`
	Archived bool   `json:"archived"`

	Raw json.RawMessage `json:"-"`
}

// Group is one element of GET /v1/organizations/{slug}/groups.
type Group struct {
	Name             string   `json:"name"`
	Version          string   `json:"version"`
	UUID             string   `json:"uuid"`
	Locations        []string `json:"locations"`
	Primary          string   `json:"primary"`
	DeleteProtection bool     `json:"delete_protection"`
	Archived         bool     `json:"archived"`

	Raw json.RawMessage `json:"-"`
}

// TokenOwner is present on API tokens only when the caller is an admin or owner.
type TokenOwner struct {
	Username string `json:"username"`
	Email    string `json:"email"`
}

// APIToken is one element of GET /v1/organizations/{slug}/api-tokens. The API
// never returns a token value.
type APIToken struct {
	ID           string      `json:"id"`
	Name         string      `json:"name"`
	Organization string      `json:"organization"`
	Group        string      `json:"group"`
	Scopes       []string    `json:"scopes"`
	Owner        *TokenOwner `json:"owner"`
	CreatedAt    string      `json:"created_at"`

	Raw json.RawMessage `json:"-"`
}

// AuditLog is one event of GET /v1/organizations/{slug}/audit-logs.
type AuditLog struct {
	Code      string          `json:"code"`
	Message   string          `json:"message"`
	Origin    string          `json:"origin"`
	Author    string          `json:"author"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`

	Raw json.RawMessage `json:"-"`
}

// AuditLogPage is one page of audit logs with its offset pagination.
type AuditLogPage struct {
	AuditLogs  []AuditLog `json:"audit_logs"`
	Pagination struct {
		Page       int `json:"page"`
		PageSize   int `json:"page_size"`
		TotalPages int `json:"total_pages"`
		TotalRows  int `json:"total_rows"`
	} `json:"pagination"`
}

// UsageCounters are the billing-cycle-to-date counters of an org or database.
type UsageCounters struct {
	RowsRead     int64 `json:"rows_read"`
	RowsWritten  int64 `json:"rows_written"`
	StorageBytes int64 `json:"storage_bytes"`
	BytesSynced  int64 `json:"bytes_synced"`
	Databases    int64 `json:"databases"`
	Locations    int64 `json:"locations"`
	Groups       int64 `json:"groups"`
}

// DatabaseUsage is one database's usage inside the org usage response. The
// spec calls the sum "total", both official clients read "usage"; Counters
// holds whichever was sent, preferring total.
type DatabaseUsage struct {
	UUID     string         `json:"uuid"`
	Total    *UsageCounters `json:"total"`
	Usage    *UsageCounters `json:"usage"`
	Counters UsageCounters  `json:"-"`

	Raw json.RawMessage `json:"-"`
}

// OrgUsage is the org part of GET /v1/organizations/{slug}/usage; the
// databases' usage, which the same call carries, is handed over a page at a
// time by Client.OrganizationUsage.
type OrgUsage struct {
	UUID  string        `json:"uuid"`
	Usage UsageCounters `json:"usage"`
}

// Location is one entry of the GET /v1/locations map.
type Location struct {
	Code        string
	Description string
}
