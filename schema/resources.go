package schema

import "slices"

// Kind says how a resource's rows reach the mirror.
type Kind int

const (
	// Reconciled rows are upserted, tombstoned when they vanish (subject
	// to the delete guard) and logged in change_events.
	Reconciled Kind = iota
	// Appended rows are inserted once and never change (audit logs).
	Appended
	// Counters are a day's usage counters, updated in place.
	Counters
)

// Vanish says why a reconciled row the API stopped returning is tombstoned.
type Vanish int

const (
	// Removed: deleted_reason 'removed'.
	Removed Vanish = iota
	// AcceptedOrRevoked: an invite, or the role assignment it implied, is
	// 'accepted' when a member of the org now has its email, 'revoked'
	// otherwise.
	AcceptedOrRevoked
)

// Feed is a table a resource writes.
type Feed struct {
	Table *Table
	// Filter is the SQL condition that picks the resource's own rows in a
	// table two resources feed (role assignments from members and from
	// invites).
	Filter string
	// Guard: the feed's deletes count toward the delete guard, and its
	// live rows are the resource's live rows.
	Guard  bool
	Vanish Vanish
}

// Resource is one scope of a pass: its name (as in defaults.resources and
// sync_scopes), the tables it feeds and how. The orchestrator pairs each
// with how it is fetched; everything else (write order, live counts, the
// tables of a summary, offboarding, retention) is derived from this list.
type Resource struct {
	Name  string
	Kind  Kind
	Feeds []Feed
	// PerAccount resources are read once per account, not per org; their
	// scope is recorded with organization_id ''.
	PerAccount bool
	// OptIn resources are not in the default resource list.
	OptIn bool
	// Partial resources refresh some of their rows per pass (a budget):
	// a row is never tombstoned for not being fetched, only by an After
	// statement (when its parent row is gone).
	Partial bool
	// After are statements run in the scope's commit once its rows are
	// written: columns derived from the resource, rows that go with
	// another's.
	After []Statement
}

// Statement is SQL with its arguments, named: what each ? stands for.
type Statement struct {
	SQL  string
	Args []Arg
}

// Arg names an argument of a Statement.
type Arg int

const (
	ArgAccount Arg = iota // the account id
	ArgOrg                // the org slug
	ArgRunID              // the pass's run id
	ArgAt                 // the commit's time
)

// Table is the resource's guarded feed: the table its live rows are
// counted in.
func (r *Resource) Table() Feed {
	for _, f := range r.Feeds {
		if f.Guard {
			return f
		}
	}
	return Feed{}
}

// UsersLabel counts the users a scope's rows refer to, in a pass's counts
// and the metrics (rows_written_total, mirror_rows): users are written by
// the members and invites scopes but belong to no resource.
const UsersLabel = "users"

// Label names a feed of the resource in counts and metrics: the
// resource's name for its guarded feed, "<resource>/<table>" for another
// (invites/role_assignments: the role an invite implies).
func (r *Resource) Label(f Feed) string {
	if f.Guard {
		return r.Name
	}
	return r.Name + "/" + f.Table.Name
}

// LabelOf is the label rows of t count under when the resource writes
// them: its feed's, UsersLabel for users, the table's name otherwise.
func (r *Resource) LabelOf(t *Table) string {
	if t == Users {
		return UsersLabel
	}
	for _, f := range r.Feeds {
		if f.Table == t {
			return r.Label(f)
		}
	}
	return t.Name
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

// Lookup returns the named resource, or nil.
func Lookup(name string) *Resource {
	for _, r := range Registry {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Resources lists every resource's name, in Registry order.
var Resources = func() []string {
	out := make([]string, len(Registry))
	for i, r := range Registry {
		out[i] = r.Name
	}
	return out
}()

// DefaultResources are the resources a pass syncs unless the config says
// otherwise: all but the opt-in ones.
var DefaultResources = func() []string {
	var out []string
	for _, r := range Registry {
		if !r.OptIn {
			out = append(out, r.Name)
		}
	}
	return out
}()

// OrgTables are the entity tables whose rows live under an organization, in
// the order offboarding tombstones them: the registry's, children first,
// organizations last.
var OrgTables = func() []*Table {
	var out []*Table
	for i := len(Registry) - 1; i >= 0; i-- {
		for _, f := range Registry[i].Feeds {
			if t := f.Table; t.OrgColumn != "" && !t.AppendOnly && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}()

// EntityTables are every entity table: the account-wide ones, then
// OrgTables.
var EntityTables = append([]*Table{Users, Roles, AccountUsers}, OrgTables...)

// AppendOnlyTables are the tables of the appended and counter resources.
var AppendOnlyTables = []*Table{AuditLogs, UsageDays}

// DataTables are every table a pass writes rows to, entity tables first:
// each has a stage twin its commit copies from.
var DataTables = append(append([]*Table(nil), EntityTables...), AppendOnlyTables...)
