package daemon

import (
	"encoding/json"
	"time"
)

// Status is the /status document, built from the scheduler's state and
// the mirror: per account its schedule and last pass,
// per org and resource the last complete pass, and every scope whose deletes
// the guard holds back.
type Status struct {
	GeneratedAt time.Time       `json:"generated_at"`
	Accounts    []AccountStatus `json:"accounts"`
	Guarded     []GuardedScope  `json:"guarded"`
	Extracts    []ExtractStatus `json:"extracts"`
	Webhooks    []WebhookStatus `json:"webhooks"`
	Policies    []PolicyStatus  `json:"policies"`
	Exports     []ExportStatus  `json:"exports"`
	// Config is the last SIGHUP reload, absent before the first.
	Config *ConfigStatus `json:"config,omitempty"`
}

// ConfigStatus is the outcome of the last config reload: a refused one
// leaves the running config in force, and says why.
type ConfigStatus struct {
	ReloadedAt time.Time `json:"reloaded_at"`
	OK         bool      `json:"ok"`
	Error      string    `json:"error,omitempty"`
}

// WebhookStatus is one webhook endpoint: how far behind it is and its
// last attempt.
type WebhookStatus struct {
	Endpoint string `json:"endpoint"`
	Accounts int    `json:"accounts"`
	Behind   int64  `json:"events_behind"`
	// OldestAgeSeconds is the age of the oldest undelivered change.
	OldestAgeSeconds *float64              `json:"oldest_undelivered_age_seconds,omitempty"`
	LastAttempt      *WebhookAttemptStatus `json:"last_attempt,omitempty"`
	Error            string                `json:"error,omitempty"` // why the status could not be read
}

// PolicyStatus is one policy's last evaluation for one account, with its
// open violations (the oldest first, at most PolicyViolationsShown).
type PolicyStatus struct {
	Policy      string            `json:"policy"`
	Account     string            `json:"account"`
	Severity    string            `json:"severity"`
	Status      string            `json:"status"` // ok or failed
	Error       string            `json:"error,omitempty"`
	EvaluatedAt time.Time         `json:"evaluated_at"`
	Open        int               `json:"open"`
	Violations  []PolicyViolation `json:"violations"`
}

// PolicyViolation is an open violation as /status lists it.
type PolicyViolation struct {
	Organization string          `json:"organization"`
	SubjectType  string          `json:"subject_type"`
	SubjectID    string          `json:"subject_id"`
	Details      json.RawMessage `json:"details"`
	FirstSeenAt  time.Time       `json:"first_seen_at"`
}

// PolicyViolationsShown bounds the violations /status lists per policy
// and account; the mirror has them all.
const PolicyViolationsShown = 20

// WebhookAttemptStatus is an endpoint's latest delivery attempt.
type WebhookAttemptStatus struct {
	At         time.Time `json:"at"`
	Account    string    `json:"account"`
	Status     string    `json:"status"` // delivered, failed, dead
	StatusCode int       `json:"status_code,omitempty"`
	Events     int       `json:"events"`
	Attempt    int       `json:"attempt"`
	Error      string    `json:"error,omitempty"`
}

// ExportStatus is one scheduled export (docs/exports.md): its runs in
// this process. The cursor itself lives in the target.
type ExportStatus struct {
	Export        string     `json:"export"`
	Schedule      string     `json:"schedule"`
	NextRun       *time.Time `json:"next_run,omitempty"`
	Running       bool       `json:"running"`
	LastRunAt     *time.Time `json:"last_run_at,omitempty"`
	LastSuccessAt *time.Time `json:"last_success_at,omitempty"`
	Error         string     `json:"error,omitempty"` // why its last run failed
}

// ExtractStatus is one scheduled extraction query.
type ExtractStatus struct {
	Query    string            `json:"query"`
	Schedule string            `json:"schedule"`
	NextRun  *time.Time        `json:"next_run,omitempty"`
	Running  bool              `json:"running"`
	Error    string            `json:"error,omitempty"` // why its last run failed as a whole
	LastRun  *ExtractRunStatus `json:"last_run,omitempty"`
}

// ExtractRunStatus is a query's run as extract_runs records it.
type ExtractRunStatus struct {
	RunID      int64      `json:"run_id"`
	Trigger    string     `json:"trigger"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	OK         int        `json:"databases_ok"`
	Failed     int        `json:"databases_failed"`
	Skipped    int        `json:"databases_skipped"`
	Rows       int64      `json:"rows"`
	Error      string     `json:"error,omitempty"`
}

// AccountStatus is one configured account.
type AccountStatus struct {
	ID       string `json:"id"`
	Schedule string `json:"schedule"`
	// IntervalSeconds is the time between two scheduled passes: a scope
	// whose last complete pass is older than three of them is stale.
	IntervalSeconds float64    `json:"interval_seconds"`
	NextRun         *time.Time `json:"next_run,omitempty"`
	Running         bool       `json:"running"`
	// Paused: scheduled passes skip it until resumed (docs/control.md).
	Paused   bool        `json:"paused"`
	PausedAt *time.Time  `json:"paused_at,omitempty"`
	PausedBy string      `json:"paused_by,omitempty"`
	LastPass *PassStatus `json:"last_pass,omitempty"`
	Orgs     []OrgStatus `json:"orgs"`
	// Scopes are the per-account resources' (account_users).
	Scopes []ScopeStatus `json:"account_scopes,omitempty"`
	Error  string        `json:"error,omitempty"` // why the last pass could not start
	Up     *bool         `json:"up,omitempty"`    // unknown until a pass ran in this process
	// Lease is the live lease on the account: which process syncs it now.
	Lease *LeaseStatus `json:"lease,omitempty"`
	// InFlight is where the pass running in this process is.
	InFlight *PassProgress `json:"in_flight,omitempty"`
}

// PassProgress is the pass in flight: the org and resource being fetched
// and how far it got.
type PassProgress struct {
	Org          string    `json:"org"`
	OrgIndex     int       `json:"org_index"`
	Orgs         int       `json:"orgs"`
	Resource     string    `json:"resource"`
	Pages        int64     `json:"pages"`
	Rows         int64     `json:"rows"`
	ExpectedRows int64     `json:"expected_rows,omitempty"`
	Since        time.Time `json:"resource_started_at"`
}

// LeaseStatus is a live lease: its holder, until when, and whether the
// holder is this process.
type LeaseStatus struct {
	Owner     string    `json:"owner"`
	ExpiresAt time.Time `json:"expires_at"`
	Mine      bool      `json:"mine"`
}

// PassStatus is an account pass as sync_runs records it.
type PassStatus struct {
	RunID      int64      `json:"run_id"`
	Trigger    string     `json:"trigger"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// OrgStatus groups an org's scopes.
type OrgStatus struct {
	Org       string        `json:"org"`
	Resources []ScopeStatus `json:"resources"`
}

// ScopeStatus is one (account, org, resource) scope.
type ScopeStatus struct {
	Resource       string     `json:"resource"`
	LastStatus     string     `json:"last_status"`
	LastCompleteAt *time.Time `json:"last_complete_at,omitempty"`
	AgeSeconds     *float64   `json:"age_seconds,omitempty"`
	ErrorClass     string     `json:"error_class,omitempty"`
	Error          string     `json:"error,omitempty"`
	DeletesHeld    int        `json:"deletes_held,omitempty"`
}

// GuardedScope is a scope whose last pass held deletes back, with the
// command that releases them.
type GuardedScope struct {
	Account     string `json:"account"`
	Org         string `json:"org"`
	Resource    string `json:"resource"`
	DeletesHeld int    `json:"deletes_held"`
	Release     string `json:"release"`
}

// errString is err's text, or "" for none.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
