package schema

import (
	"slices"
	"strings"
)

// Doc describes one table or view of the mirror to its readers. Dictionary
// is the one place these descriptions live; docs/tables.md (generated),
// the mirror's mirror_tables and mirror_columns, and `tursync schema`
// publish it.
type Doc struct {
	Name string
	Kind string // KindTable or KindView
	// Internal tables are the daemon's own bookkeeping (leases, staging,
	// migrations): not for analysts, and their columns are not described.
	Internal    bool
	Description string
	// Source is the Platform API route the rows come from, or "derived:"
	// and how.
	Source  string
	Columns []ColumnDoc
}

// ColumnDoc describes one column.
type ColumnDoc struct {
	Name        string
	Type        string // TEXT, INTEGER or REAL (SQLite's affinity)
	Description string
	Source      string // the API field, or "derived:" and how
	// Values are an enumeration's values, each with its meaning.
	Values []Value
}

// Value is one value of an enumerated column.
type Value struct {
	Value   string
	Meaning string
}

// What a Doc is.
const (
	KindTable = "table"
	KindView  = "view"
)

// DocOf returns the Doc of a table or view, or nil.
func DocOf(name string) *Doc {
	for i := range Dictionary {
		if Dictionary[i].Name == name {
			return &Dictionary[i]
		}
	}
	return nil
}

// internalDocs are the internal tables made from others: each data
// table's stage twin, and SQLite's own.
func internalDocs() []Doc {
	var out []Doc
	for _, t := range DataTables {
		out = append(out, Doc{Name: "stage_" + t.Name, Kind: KindTable, Internal: true,
			Description: "Rows of " + t.Name + " a pass staged for its commit; empty between commits.", Source: "derived: the pass"})
	}
	return append(out,
		Doc{Name: "stage_change_events", Kind: KindTable, Internal: true, Description: "Change events a pass staged for its commit.", Source: "derived: the pass"},
		Doc{Name: "stage_keys", Kind: KindTable, Internal: true, Description: "Row keys a commit picks rows by.", Source: "derived: the pass"},
		Doc{Name: "sqlite_sequence", Kind: KindTable, Internal: true, Description: "SQLite's AUTOINCREMENT counters.", Source: "SQLite"})
}

func col(name, typ, desc, source string, values ...Value) ColumnDoc {
	return ColumnDoc{Name: name, Type: typ, Description: desc, Source: source, Values: values}
}

func v(value, meaning string) Value { return Value{Value: value, Meaning: meaning} }

// The columns many tables share.
var (
	colAccount = col("account_id", "TEXT", "The linked account the row was synced for: `accounts[].id` in the config.", "config")
	colOrg     = col("organization_id", "TEXT", "The organization's slug.", "the route's {organizationSlug}")
)

// deletedReasons are every deleted_reason, with what each means.
var deletedReasons = []Value{
	v("removed", "a complete scope no longer returned the row"),
	v("accepted", "an invite that vanished while a member with its email appeared in the org"),
	v("revoked", "an invite that vanished with no member of its email: withdrawn or expired"),
	v("merged", "an `email:` user whose email now belongs to a member: the member's row stands for it"),
	v("organization_removed", "the org vanished from the token's list and answers 404: every row under it is tombstoned"),
}

// deletedBy are the columns a history table's tombstone gains from the
// audit log (migration 00014).
func deletedBy() []ColumnDoc {
	return []ColumnDoc{
		col("deleted_happened_at", "TEXT", "When the deletion happened, from the audit event that explains it; NULL when none does (deleted_at is then the only time known).", "audit_logs.created_at"),
		col("deleted_by", "TEXT", "Who deleted it: the audit event's author; NULL when none explains it.", "audit_logs.author"),
	}
}

// bookkeeping are the columns every entity table ends with.
func bookkeeping() []ColumnDoc {
	return []ColumnDoc{
		col("content_hash", "TEXT", "A hash of the row's mapped content and remote_data: a row whose hash is unchanged is never rewritten.", "derived: SHA-256 of the content"),
		col("remote_data", "TEXT", "The API object as received (JSON), fields the mirror does not map included.", "the API object"),
		col("first_seen_at", "TEXT", "When the mirror first saw the row (RFC 3339, UTC).", "derived: the pass's time"),
		col("updated_at", "TEXT", "When the mirror last wrote a real change to the row.", "derived: the pass's time"),
		col("deleted_at", "TEXT", "When the mirror saw the row gone (a tombstone; NULL while live). The time the sync noticed, not when it happened: the audit log has that.", "derived: the pass's time"),
		col("deleted_reason", "TEXT", "Why the row is tombstoned (NULL while live); docs/reconcile.md.", "derived", deletedReasons...),
	}
}

// entity is an entity table's Doc: account_id, its columns, then the
// bookkeeping columns.
// with appends columns a later migration added after the bookkeeping ones.
func (d Doc) with(cols ...ColumnDoc) Doc {
	d.Columns = append(d.Columns, cols...)
	return d
}

func entity(name, desc, source string, cols ...ColumnDoc) Doc {
	all := append([]ColumnDoc{colAccount}, cols...)
	return Doc{Name: name, Kind: KindTable, Description: desc, Source: source, Columns: append(all, bookkeeping()...)}
}

var (
	roleValues = []Value{v("owner", "full control, billing and deleting the org included"), v("admin", "manages members, invites, databases, groups and tokens"),
		v("member", "creates and manages databases and groups"), v("viewer", "read-only access")}
	scopeStatuses = []Value{v("complete", "the fetch finished and its rows were written"), v("failed", "the fetch or the write failed: nothing of the scope changed"),
		v("unavailable", "402 or 403: the plan or the token's role does not allow it; nothing is tombstoned"),
		v("guarded", "complete, but the deletes exceeded the delete guard and wait for --force-deletes")}
	errorClasses = []Value{v("auth", "401: the token was refused"), v("forbidden", "403: the token's role may not read it"), v("plan", "402: the org's plan does not include it"),
		v("not_found", "404: the org or object is gone"), v("rate_limited", "429 past every retry"), v("server", "5xx, or an answer the API should not give"),
		v("network", "no answer: refused, reset or timed out"), v("decode", "an answer that is not the JSON the API documents"), v("mirror", "the mirror refused the write")}
	severities = []Value{v("info", "worth knowing"), v("warning", "to fix"), v("critical", "to fix now: tursync policy check exits 1 while one is open")}
	auditCodes = []Value{v("db-create", "a database was created (data.name)"), v("db-delete", "a database was deleted (data.name)"),
		v("db-protect", "a database's delete protection was turned on (data.name)"), v("db-unprotect", "it was turned off (data.name)"),
		v("db-token-create", "a database token was minted"), v("group-token-create", "a group token was minted"), v("user-token-create", "a Platform API token was minted (data.name)"),
		v("group-create", "a group was created (data.name)"), v("group-delete", "a group was deleted (data.name)"),
		v("group-protect", "a group's delete protection was turned on (data.name)"), v("group-unprotect", "it was turned off (data.name)"), v("group-unarchive", "a group was unarchived (data.name)"),
		v("org-member-add", "a member was added (data: the POST /members body, {username, role})"), v("org-member-rm", "a member was removed (data.username)"),
		v("org-member-leave", "a member left (data.username)"), v("org-member-role-update", "a member's role changed (data: {username, role}); not in the spec's list, assumed"),
		v("org-plan-update", "the org's plan changed"), v("org-set-overages", "overages were turned on or off"),
		v("org-create", "the org was created"), v("org-delete", "the org was deleted"), v("instance-create", "a database instance was added"), v("instance-delete", "one was removed"),
		v("user-signup", "a user signed up"), v("user-delete", "a user was deleted")}
)

// Dictionary describes every table and view of the mirror, in the order
// docs/tables.md lists them: the tables resources feed (each Table's Doc,
// in DataTables order), the other tables and views written here, the
// history views, then the internal tables.
var Dictionary = append(append(append(dataDocs(), described...), historyDocs()...), internalDocs()...)

// dataDocs are the Docs of the tables resources feed: the Unified User
// Directory's three first, then in the order of Registry.
func dataDocs() []Doc {
	tables := []*Table{Organizations, Users, Roles}
	for _, r := range Registry {
		for _, f := range r.Feeds {
			if !slices.Contains(tables, f.Table) {
				tables = append(tables, f.Table)
			}
		}
	}
	out := make([]Doc, len(tables))
	for i, t := range tables {
		out[i] = t.Doc
	}
	return out
}

// described are the tables and views a resource does not feed, written
// by hand; historyDocs and internalDocs add the ones made from others.
var described = []Doc{

	{Name: "locations", Kind: KindTable, Description: "Every location Turso offers, shared by all accounts: no account_id.", Source: "GET /v1/locations, once a day per process",
		Columns: []ColumnDoc{
			col("code", "TEXT", "The location's code, as databases.primary_region and groups.locations name it.", "the key"),
			col("description", "TEXT", "Where it is.", "the value"),
			col("updated_at", "TEXT", "When the mirror last wrote it.", "derived: the pass's time"),
		}},
	{Name: "change_events", Kind: KindTable, Description: "Every create, update (old and new values), delete and restore of an entity row after its scope's first (baseline) pass: the ordered outbox webhooks deliver.", Source: "derived: each commit",
		Columns: []ColumnDoc{
			col("id", "INTEGER", "The event's id, increasing in commit order.", "derived"),
			colAccount,
			col("run_id", "INTEGER", "The pass that saw it (sync_runs.id).", "derived"),
			col("at", "TEXT", "When the mirror saw it: the pass's time.", "derived"),
			col("entity", "TEXT", "The table the row is in.", "derived"),
			col("entity_id", "TEXT", "The row's key, its key columns joined by '/'.", "derived"),
			col("organization_id", "TEXT", "The row's org (NULL for account-wide tables).", "derived"),
			col("op", "TEXT", "What happened to the row.", "derived", v("created", "a new row"), v("updated", "a changed row"),
				v("deleted", "tombstoned"), v("restored", "a tombstoned row that came back")),
			col("changes", "TEXT", "The columns that changed, JSON {column: {old, new}}.", "derived"),
			col("happened_at", "TEXT", "When it happened, from the audit event that explains it (NULL when source is observed).", "audit_logs.created_at"),
			col("actor", "TEXT", "Who did it: the audit event's author (NULL when source is observed).", "audit_logs.author"),
			col("source", "TEXT", "Whether an audit event explains the change; docs/history.md lists the rules that match them.", "derived",
				v("audit_log", "an audit event of the change's org names the object, with a code that explains the change, between the scope's previous fetch and the pass that saw it"),
				v("observed", "no audit event matched: at is the only time known")),
			col("audit_log_id", "TEXT", "The audit event that explains it (audit_logs.id).", "derived"),
		}},
	{Name: "row_versions", Kind: KindTable, Description: "The past versions of the history tables' rows (" + historyTableNames() + "): a commit that changes or tombstones a row first writes the version it ends. Read them through the *_history views, which add the current versions.",
		Source: "derived: each commit",
		Columns: []ColumnDoc{colAccount,
			col("entity", "TEXT", "The table the row is in.", "derived"),
			colOrg,
			col("row_id", "TEXT", "The row's key within its org (user_id for role_assignments, id for the others).", "derived"),
			col("valid_from", "TEXT", "When the version began: the pass that saw the row appear or change to it (its updated_at then).", "derived: the pass's time"),
			col("valid_to", "TEXT", "When it ended: the pass that saw the next change or the row gone.", "derived: the pass's time"),
			col("ended_by", "TEXT", "What ended it.", "derived", v("changed", "a change to a column"), v("deleted", "the row was tombstoned")),
			col("content", "TEXT", "The row's columns in this version, a JSON object.", "derived"),
		}},
	{Name: "sync_runs", Kind: KindTable, Description: "Every pass of every account.", Source: "derived: each pass",
		Columns: []ColumnDoc{
			col("id", "INTEGER", "The run's id, increasing.", "derived"),
			colAccount,
			col("trigger", "TEXT", "What started the pass.", "derived", v("manual", "tursync sync"), v("startup", "the daemon's first pass"),
				v("reload", "the first pass of an account a reload added"), v("schedule", "the daemon's schedule"), v("demo", "tursync demo"),
				v("api", "POST /api/v1/accounts/{id}/sync (docs/control.md)"), v("request", "tursync accounts sync, claimed by a daemon")),
			col("started_at", "TEXT", "When it started.", "derived"),
			col("finished_at", "TEXT", "When it ended (NULL while running).", "derived"),
			col("status", "TEXT", "How it ended.", "derived", v("running", "not over yet"), v("complete", "every scope complete or guarded"),
				v("partial", "some scope or org failed"), v("failed", "the account failed: token, org list or mirror"),
				v("interrupted", "a signal or the daemon's shutdown stopped it"), v("aborted", "its process died; another took the lease")),
			col("api_requests", "INTEGER", "Platform API requests the pass made.", "derived"),
			col("api_retries", "INTEGER", "Of those, retries.", "derived"),
			col("rate_limited_seconds", "REAL", "Time spent waiting on 429s.", "derived"),
			col("rows_created", "INTEGER", "Rows created.", "derived"),
			col("rows_updated", "INTEGER", "Rows updated.", "derived"),
			col("rows_deleted", "INTEGER", "Rows tombstoned.", "derived"),
			col("rows_unchanged", "INTEGER", "Rows fetched and unchanged.", "derived"),
			col("error", "TEXT", "Why it failed (NULL if it did not).", "derived"),
			col("users_settled", "INTEGER", "1 when the run left every user's status settled.", "derived"),
			col("token_expires_at", "TEXT", "When the account's token expires, when the run checked it.", "GET /v1/auth/validate exp"),
		}},
	{Name: "sync_scopes", Kind: KindTable, Description: "Every scope (account, org, resource) of every pass, with its outcome.", Source: "derived: each pass",
		Columns: []ColumnDoc{
			col("run_id", "INTEGER", "The pass (sync_runs.id).", "derived"),
			colAccount,
			col("organization_id", "TEXT", "The org's slug ('' for the account's own resources).", "derived"),
			col("resource", "TEXT", "The resource, as defaults.resources names it.", "derived"),
			col("status", "TEXT", "The scope's outcome.", "derived", scopeStatuses...),
			col("error_class", "TEXT", "Why it failed or is unavailable (NULL if complete).", "derived", errorClasses...),
			col("error", "TEXT", "The error's text.", "derived"),
			col("rows_created", "INTEGER", "Rows created.", "derived"),
			col("rows_updated", "INTEGER", "Rows updated.", "derived"),
			col("rows_deleted", "INTEGER", "Rows tombstoned.", "derived"),
			col("rows_unchanged", "INTEGER", "Rows unchanged.", "derived"),
			col("deletes_held", "INTEGER", "Deletes the guard held back.", "derived"),
			col("started_at", "TEXT", "When the fetch started.", "derived"),
			col("finished_at", "TEXT", "When it ended.", "derived"),
		}},
	{Name: "extract_runs", Kind: KindTable, Description: "Every run of every cross-tenant extraction query.", Source: "derived: each extraction run",
		Columns: []ColumnDoc{
			col("id", "INTEGER", "The run's id.", "derived"),
			col("query", "TEXT", "The query's name (extract.queries[].name).", "config"),
			col("trigger", "TEXT", "What started it (manual, schedule).", "derived"),
			col("started_at", "TEXT", "When it started.", "derived"),
			col("finished_at", "TEXT", "When it ended.", "derived"),
			col("status", "TEXT", "How it ended.", "derived", v("running", "not over yet"), v("ok", "every database answered"),
				v("partial", "some databases failed"), v("failed", "the run failed"), v("aborted", "its process died")),
			col("databases_ok", "INTEGER", "Databases queried.", "derived"),
			col("databases_failed", "INTEGER", "Databases that failed.", "derived"),
			col("databases_skipped", "INTEGER", "Databases not queried.", "derived"),
			col("rows", "INTEGER", "Rows extracted.", "derived"),
			col("error", "TEXT", "Why it failed.", "derived"),
		}},
	{Name: "extract_results", Kind: KindTable, Description: "The rows each extraction query returned from each tenant database; extract_<query> views unpack them.", Source: "derived: the tenant databases",
		Columns: []ColumnDoc{
			col("query", "TEXT", "The query's name.", "config"), colAccount, colOrg,
			col("database_id", "TEXT", "The tenant database (databases.id).", "derived"),
			col("database_name", "TEXT", "Its name.", "derived"),
			col("run_id", "INTEGER", "The run that extracted the row (extract_runs.id).", "derived"),
			col("row_number", "INTEGER", "The row's position in the database's answer.", "derived"),
			col("data", "TEXT", "The row, a JSON object of the query's columns.", "the tenant database"),
			col("extracted_at", "TEXT", "When it was extracted.", "derived"),
		}},
	{Name: "extract_status", Kind: KindTable, Description: "Each query's last outcome per tenant database.", Source: "derived: each extraction run",
		Columns: []ColumnDoc{
			col("query", "TEXT", "The query's name.", "config"), colAccount, colOrg,
			col("database_id", "TEXT", "The tenant database.", "derived"),
			col("database_name", "TEXT", "Its name.", "derived"),
			col("run_id", "INTEGER", "The last run (extract_runs.id).", "derived"),
			col("status", "TEXT", "The database's outcome.", "derived", v("ok", "queried"), v("failed", "the query failed there"), v("skipped", "not queried (why in error)")),
			col("error_class", "TEXT", "Why it failed.", "derived"),
			col("error", "TEXT", "The error's text.", "derived"),
			col("rows", "INTEGER", "Rows returned.", "derived"),
			col("duration_ms", "INTEGER", "How long the query took.", "derived"),
			col("last_success_at", "TEXT", "The last time it worked.", "derived"),
			col("at", "TEXT", "When it last ran.", "derived"),
		}},
	{Name: "extract_views", Kind: KindTable, Description: "The columns of each extract_<query> view.", Source: "derived: each query's answer",
		Columns: []ColumnDoc{
			col("query", "TEXT", "The query's name.", "config"),
			col("columns", "TEXT", "The view's columns, a JSON array.", "derived"),
			col("updated_at", "TEXT", "When the view was last made.", "derived"),
		}},
	{Name: "scope_state", Kind: KindTable, Description: "Each scope's latest outcome, one row per account, org and resource: kept by a trigger on sync_scopes as passes record scopes, so /status and the status page read one row per scope; retention's pruning of sync_scopes leaves it.",
		Source: "derived: sync_scopes",
		Columns: []ColumnDoc{colAccount, colOrg,
			col("resource", "TEXT", "The resource.", "derived"),
			col("run_id", "INTEGER", "The pass that recorded it (sync_runs.id).", "derived"),
			col("status", "TEXT", "How that pass ended for the scope (sync_scopes.status).", "derived"),
			col("error_class", "TEXT", "Why it failed (sync_scopes.error_class).", "derived"),
			col("error", "TEXT", "The error's text.", "derived"),
			col("deletes_held", "INTEGER", "Deletes the guard held back.", "derived"),
			col("last_complete_at", "TEXT", "When the scope's last complete or guarded pass ended (NULL: never).", "derived"),
			col("last_attempt_at", "TEXT", "When its latest pass ended.", "derived"),
		}},
	{Name: "run_hours", Kind: KindTable, Description: "The finished passes of each account summed per hour they started in, for the status page's 24-hour charts: kept by a trigger on sync_runs as passes end, pruned with sync_runs.",
		Source: "derived: sync_runs",
		Columns: []ColumnDoc{colAccount,
			col("hour", "TEXT", "The hour the passes started in: started_at to the hour (2026-12-07T05), UTC.", "derived"),
			col("passes", "INTEGER", "Passes that ended.", "derived"),
			col("longest_seconds", "INTEGER", "The longest one's duration, whole seconds.", "derived"),
			col("rows_changed", "INTEGER", "Rows they created, updated and deleted.", "derived"),
			col("api_requests", "INTEGER", "Platform API requests they made.", "derived"),
		}},
	{Name: "account_controls", Kind: KindTable, Description: "What operators set on an account (docs/control.md): a pause, which every daemon's schedule honours until resumed, and the last sync request, which one daemon claims and runs.",
		Source: "the control API and tursync accounts",
		Columns: []ColumnDoc{colAccount,
			col("paused", "INTEGER", "1 while paused: scheduled passes skip the account.", "control"),
			col("paused_at", "TEXT", "When it was paused (NULL while not).", "derived"),
			col("paused_by", "TEXT", "Who paused it: the control API's user, or the OS user of tursync accounts.", "control"),
			col("sync_requested_at", "TEXT", "When a pass was last requested.", "derived"),
			col("sync_requested_by", "TEXT", "Who requested it.", "control"),
			col("sync_claimed_at", "TEXT", "When a daemon took the request (NULL while pending).", "derived"),
			col("sync_run_id", "INTEGER", "The pass it ran (sync_runs.id).", "derived"),
		}},
	{Name: "export_runs", Kind: KindTable, Description: "Every run of every export (docs/exports.md), by the daemon or tursync export; a failed one is a webhook's export.failed event.",
		Source: "derived: each export run",
		Columns: []ColumnDoc{
			col("id", "INTEGER", "The run's id, increasing.", "derived"),
			col("export", "TEXT", "The export (exports[].id).", "config"),
			col("trigger", "TEXT", "What started it.", "derived", v("schedule", "the daemon, on the export's schedule"), v("manual", "tursync export")),
			col("started_at", "TEXT", "When it started.", "derived"),
			col("finished_at", "TEXT", "When it ended.", "derived"),
			col("status", "TEXT", "How it ended.", "derived", v("ok", "the target holds the mirror as of cursor"), v("failed", "the target is as the last ok run left it")),
			col("error_class", "TEXT", "Why it failed.", "derived", v("network", "no answer from the target"), v("refused", "PostgreSQL said no"),
				v("schema", "a target table that does not fit"), v("busy", "another run holds the target"), v("io", "the directory"),
				v("mirror", "the mirror could not be read"), v("config", "the export's password could not be read")),
			col("error", "TEXT", "The error's text.", "derived"),
			col("rows", "INTEGER", "Rows it wrote.", "derived"),
			col("cursor", "INTEGER", "The last change event the target holds after it (change_events.id); for a failed run, 0.", "derived"),
		}},
	{Name: "webhook_cursors", Kind: KindTable, Description: "How far each webhook endpoint has delivered each account's change events.", Source: "derived: webhook delivery",
		Columns: []ColumnDoc{
			col("endpoint", "TEXT", "The endpoint (webhooks[].id).", "config"), colAccount,
			col("last_event_id", "INTEGER", "The last change_events.id delivered (or skipped as dead).", "derived"),
			col("updated_at", "TEXT", "When it moved.", "derived"),
		}},
	{Name: "webhook_deliveries", Kind: KindTable, Description: "Every attempt to deliver a batch of change events.", Source: "derived: webhook delivery",
		Columns: []ColumnDoc{
			col("id", "INTEGER", "The attempt's id.", "derived"),
			col("endpoint", "TEXT", "The endpoint (webhooks[].id).", "config"), colAccount,
			col("webhook_id", "TEXT", "The webhook-id header: the same for every attempt of a batch.", "derived"),
			col("first_event_id", "INTEGER", "The batch's first change_events.id.", "derived"),
			col("last_event_id", "INTEGER", "Its last.", "derived"),
			col("events", "INTEGER", "How many events it carries.", "derived"),
			col("attempt", "INTEGER", "The attempt's number, from 1.", "derived"),
			col("status", "TEXT", "The attempt's outcome.", "derived", v("delivered", "a 2xx"), v("failed", "anything else; retried"), v("dead", "past max_age: given up")),
			col("status_code", "INTEGER", "The receiver's HTTP status (NULL: no answer).", "derived"),
			col("error", "TEXT", "What went wrong.", "derived"),
			col("first_attempt_at", "TEXT", "When the batch was first tried.", "derived"),
			col("at", "TEXT", "When this attempt was made.", "derived"),
			col("next_retry_at", "TEXT", "When the next attempt is due.", "derived"),
		}},
	{Name: "policy_violations", Kind: KindTable, Description: "Every violation of every policy (docs/policies.md): a row a policy's query returned. Open while resolved_at is NULL; a violation seen again keeps its row, one no longer returned is resolved, one that comes back is a new row.",
		Source: "derived: policy evaluation after each account's pass and by tursync policy check",
		Columns: []ColumnDoc{
			col("id", "INTEGER", "The violation's id.", "derived"),
			col("policy", "TEXT", "The policy (policies[].name).", "config"),
			colAccount, colOrg,
			col("subject_type", "TEXT", "What kind of thing violates it (member, invite, database, api_token, organization, scope, quota, ...).", "the policy's query"),
			col("subject_id", "TEXT", "Which one: its id in its table.", "the policy's query"),
			col("severity", "TEXT", "The policy's severity.", "config", severities...),
			col("details", "TEXT", "The query's other columns, a JSON object.", "the policy's query"),
			col("first_seen_at", "TEXT", "The evaluation that first returned it.", "derived"),
			col("last_seen_at", "TEXT", "The last evaluation that returned it: exact once resolved; while open, it moves at most hourly (policy_status.last_ok_at is exact).", "derived"),
			col("resolved_at", "TEXT", "The first evaluation that no longer returned it; NULL while open.", "derived"),
		}},
	{Name: "policy_status", Kind: KindTable, Description: "Each policy's last evaluation for each account.", Source: "derived: policy evaluation",
		Columns: []ColumnDoc{
			col("policy", "TEXT", "The policy.", "config"), colAccount,
			col("severity", "TEXT", "The policy's severity.", "config", severities...),
			col("status", "TEXT", "How the evaluation ended.", "derived", v("ok", "the query ran: its rows are the open violations"),
				v("failed", "the query failed: no violation was opened or resolved")),
			col("error", "TEXT", "Why it failed (NULL when ok).", "derived"),
			col("evaluated_at", "TEXT", "When it ran.", "derived"),
			col("last_ok_at", "TEXT", "The last evaluation that ran.", "derived"),
			col("open", "INTEGER", "Open violations after it.", "derived"),
			col("opened", "INTEGER", "Violations it opened.", "derived"),
			col("resolved", "INTEGER", "Violations it resolved.", "derived"),
			col("duration_ms", "INTEGER", "How long the query took.", "derived"),
			col("definition", "TEXT", "A hash of the statement and parameters the evaluation ran: an evaluation of another definition never stands for this one.", "derived"),
			col("last_run_id", "INTEGER", "The account's last pass when it ran (sync_runs.id): a later pass that wrote rows makes the daemon evaluate again.", "derived"),
		}},
	{Name: "policy_events", Kind: KindTable, Description: "The policy.violated and policy.resolved events webhooks deliver: one per violation an evaluation opened or resolved (none on a policy's first evaluation for an account).",
		Source: "derived: policy evaluation",
		Columns: []ColumnDoc{
			col("id", "INTEGER", "The event's id, increasing.", "derived"), colAccount,
			col("type", "TEXT", "What happened.", "derived", v("policy.violated", "a violation opened"), v("policy.resolved", "a violation resolved")),
			col("policy", "TEXT", "The policy.", "config"),
			col("severity", "TEXT", "The policy's severity.", "config", severities...),
			colOrg,
			col("subject_type", "TEXT", "What kind of thing.", "the policy's query"),
			col("subject_id", "TEXT", "Which one.", "the policy's query"),
			col("details", "TEXT", "The violation's details, a JSON object.", "the policy's query"),
			col("at", "TEXT", "The evaluation's time.", "derived"),
		}},
	{Name: "mirror_tables", Kind: KindTable, Description: "This data dictionary: every table and view of the mirror.", Source: "derived: the dictionary in code (schema.Dictionary)",
		Columns: []ColumnDoc{
			col("table_name", "TEXT", "The table or view.", "derived"),
			col("kind", "TEXT", "What it is.", "derived", v(KindTable, "a table"), v(KindView, "a view")),
			col("internal", "INTEGER", "1 for the daemon's own bookkeeping, not for analysts.", "derived"),
			col("description", "TEXT", "What it holds.", "derived"),
			col("source", "TEXT", "The API route its rows come from, or how they are derived.", "derived"),
		}},
	{Name: "mirror_columns", Kind: KindTable, Description: "This data dictionary: every column of every table and view that is not internal.", Source: "derived: the dictionary in code (schema.Dictionary)",
		Columns: []ColumnDoc{
			col("table_name", "TEXT", "The table or view.", "derived"),
			col("column_name", "TEXT", "The column.", "derived"),
			col("position", "INTEGER", "Its position, from 1.", "derived"),
			col("type", "TEXT", "Its type (SQLite affinity).", "derived"),
			col("description", "TEXT", "What it holds.", "derived"),
			col("source", "TEXT", "The API field it comes from, or how it is derived.", "derived"),
			col("enum_values", "TEXT", "For an enumeration, a JSON object of each value and its meaning (NULL otherwise).", "derived"),
		}},

	{Name: "access_review", Kind: KindView, Description: "Who holds which role in which live org, and since when: the access review. Pending invites are rows with status invited.", Source: "derived: role_assignments, users, audit_logs",
		Columns: []ColumnDoc{colAccount, colOrg,
			col("user_id", "TEXT", "The user (users.id).", "role_assignments.user_id"),
			col("username", "TEXT", "The username (empty for someone only invited).", "users.username"),
			col("email", "TEXT", "The email.", "users.email"),
			col("role_id", "TEXT", "The role.", "role_assignments.role_id", roleValues...),
			col("status", "TEXT", "Whether the user holds the role or is only invited to it.", "role_assignments.status", v("active", "a member"), v("invited", "a pending invite")),
			col("since", "TEXT", "Since when the user has held the role (see since_source).", "derived"),
			col("since_source", "TEXT", "Where since comes from.", "derived",
				v("audit_log", "the org's last org-member-add event for the user at or before the mirror first saw the assignment"),
				v("first_seen", "no such event: when the mirror first saw the assignment (for existing members, the first pass)"),
				v("role_change", "when the mirror saw the role change to this one")),
		}},
	{Name: "pending_invites", Kind: KindView, Description: "Live invites with their age.", Source: "derived: invites",
		Columns: []ColumnDoc{colAccount, colOrg,
			col("email", "TEXT", "Who is invited.", "invites.email"),
			col("role", "TEXT", "The role the invite grants.", "invites.role", roleValues...),
			col("created_at", "TEXT", "When it was sent.", "invites.created_at"),
			col("age_days", "INTEGER", "Whole days since it was sent.", "derived: now - created_at"),
		}},
	{Name: "sync_health", Kind: KindView, Description: "Each scope's last outcome and the age of its last complete pass.", Source: "derived: sync_scopes",
		Columns: []ColumnDoc{colAccount,
			col("organization_id", "TEXT", "The org's slug ('' for the account's own resources).", "sync_scopes.organization_id"),
			col("resource", "TEXT", "The resource.", "sync_scopes.resource"),
			col("last_complete_at", "TEXT", "When its last complete (or guarded) pass ended.", "derived"),
			col("age_seconds", "INTEGER", "Seconds since then.", "derived"),
			col("last_status", "TEXT", "Its last pass's status.", "sync_scopes.status", scopeStatuses...),
			col("last_error_class", "TEXT", "Its last pass's error class.", "sync_scopes.error_class", errorClasses...),
		}},
	{Name: "organization_billing", Kind: KindView, Description: "Each live org's plan beside its database count and quota, and its unpaid invoices.", Source: "derived: organizations, subscriptions, plans, databases, invoices",
		Columns: []ColumnDoc{colAccount, colOrg,
			col("pricing_plan", "TEXT", "The org's plan (the Unified User Directory's Organization.pricing_plan).", "organizations.pricing_plan"),
			col("timeline", "TEXT", "The billing period.", "subscriptions.timeline"),
			col("overages", "INTEGER", "1 when overages are billed.", "subscriptions.overages"),
			col("plan_since", "TEXT", "Since when it is on the plan.", "subscriptions.plan_since"),
			col("databases", "INTEGER", "Its live databases.", "derived: count of databases"),
			col("quota_databases", "INTEGER", "The plan's database quota.", "plans.quota_databases"),
			col("unpaid_invoices", "INTEGER", "Invoices not paid.", "derived: count of invoices"),
			col("amount_unpaid", "REAL", "Their sum, USD.", "derived: sum of invoices.amount_due"),
		}},
	{Name: "database_details_freshness", Kind: KindView, Description: "Every live database with when its details were last refreshed (NULL: never).", Source: "derived: databases, database_details",
		Columns: []ColumnDoc{colAccount, colOrg,
			col("database_id", "TEXT", "The database.", "databases.id"),
			col("database_name", "TEXT", "Its name.", "databases.name"),
			col("refreshed_at", "TEXT", "When its details were last fetched.", "database_details.refreshed_at"),
			col("age_seconds", "INTEGER", "Seconds since then.", "derived"),
		}},

	{Name: "goose_db_version", Kind: KindTable, Internal: true, Description: "The migrations applied to the mirror (goose).", Source: "derived: migrations"},
	{Name: "leases", Kind: KindTable, Internal: true, Description: "Who writes each account (and each extraction query and webhook endpoint) now, and until when.", Source: "derived: the daemons"},
	{Name: "lease_fence", Kind: KindTable, Internal: true, Description: "The fence every commit checks: a writer that lost its lease writes nothing.", Source: "derived: the daemons"},
	{Name: "mirror_identity", Kind: KindTable, Internal: true, Description: "The mirror's identity on a server, so a replaced mirror is noticed.", Source: "derived: the first open"}}

// historyTableNames lists HistoryTables for a description.
func historyTableNames() string {
	names := make([]string, len(HistoryTables))
	for i, t := range HistoryTables {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// historyDocs describe each history view (HistoryViewSQL), its columns
// taken from its table's Doc.
func historyDocs() []Doc {
	var out []Doc
	for _, t := range HistoryTables {
		colOf := func(name string) ColumnDoc {
			for _, c := range t.Doc.Columns {
				if c.Name == name {
					return c
				}
			}
			panic("schema: no doc of " + t.Name + "." + name)
		}
		cols := []ColumnDoc{colAccount, colOrg, colOf(t.Keys[1])}
		for _, c := range t.Columns {
			cols = append(cols, colOf(c))
		}
		cols = append(cols,
			col("valid_from", "TEXT", "When this version began: the pass that saw the row appear or change to it.", "row_versions.valid_from; "+t.Name+".updated_at for the current version"),
			col("valid_to", "TEXT", "When it ended: the pass that saw the next change or the row gone; NULL for the current version.", "row_versions.valid_to"),
			col("ended_by", "TEXT", "What ended it (NULL for the current version).", "row_versions.ended_by", v("changed", "a change to a column"), v("deleted", "the row was tombstoned")))
		out = append(out, Doc{Name: HistoryView(t), Kind: KindView,
			Description: "Every version of each row of " + t.Name + ", one row per version, valid from valid_from until valid_to (NULL while current). The row as it was at T: WHERE valid_from <= T AND (valid_to IS NULL OR valid_to > T). It reaches back as far as change_events' retention and to the upgrade that added it; docs/history.md.",
			Source:      "derived: row_versions, then the live rows of " + t.Name, Columns: cols})
	}
	return out
}
