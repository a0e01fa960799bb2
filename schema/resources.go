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
