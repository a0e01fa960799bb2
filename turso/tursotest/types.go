package tursotest

import "encoding/json"

// The simulator's own wire types. They are written from the spec, not shared
// with package turso, so a casing slip in the client cannot hide behind the
// same slip in the simulator.

// Organization as the API sends it.
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
}

// Member as the API sends it.
type Member struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Email    string `json:"email"`
}

// Invite as the v2 API sends it (no token).
type Invite struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
}

// DatabaseParent as the API sends it.
type DatabaseParent struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	BranchedAt string `json:"branched_at"`
}

// Database as the API sends it, PascalCase and camelCase included.
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
	Type             string          `json:"type,omitempty"`
	Version          string          `json:"version,omitempty"`

	usage UsageCounters
}

// Group as the API sends it.
type Group struct {
	Name             string   `json:"name"`
	Version          string   `json:"version"`
	UUID             string   `json:"uuid"`
	Locations        []string `json:"locations"`
	Primary          string   `json:"primary"`
	DeleteProtection bool     `json:"delete_protection"`
}

// TokenOwner as the API sends it.
type TokenOwner struct {
	Username string `json:"username"`
	Email    string `json:"email"`
}

// APIToken as the org api-tokens list sends it.
type APIToken struct {
	Name         string      `json:"name"`
	ID           string      `json:"id"`
	Organization string      `json:"organization"`
	Group        string      `json:"group,omitempty"`
	Scopes       []string    `json:"scopes,omitempty"`
	Owner        *TokenOwner `json:"owner,omitempty"`
	CreatedAt    string      `json:"created_at"`
}

// AuditLog as the API sends it.
type AuditLog struct {
	Code      string          `json:"code"`
	Message   string          `json:"message"`
	Origin    string          `json:"origin"`
	Author    string          `json:"author"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// UsageCounters as the usage endpoints send them.
type UsageCounters struct {
	RowsRead     int64 `json:"rows_read"`
	RowsWritten  int64 `json:"rows_written"`
	StorageBytes int64 `json:"storage_bytes"`
	BytesSynced  int64 `json:"bytes_synced"`
}
