package sync

import (
	"context"

	"github.com/tursync/tursync/mapper"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
)

// fetchJob is one scope to fill: an org's (or, for a per-account resource,
// the account's) rows of one resource, with what the pass read ahead.
type fetchJob struct {
	a   Account
	org string
	o   Org    // the pass's handle on the org
	lk  Lookup // the pass's lookups
	sc  *storage.Scope
	pf  *prefetched
	of  *orgFetch
}

// reader is how a pass reads one resource: the Platform API route it
// reads, how it fills a scope, and what it means for the users.
type reader struct {
	// route is the Platform API route the resource reads (its --fault name
	// in tursync simulate).
	route string
	fetch func(s *Syncer, ctx context.Context, j fetchJob) error
	// prefetched, when set, fills the scope from what the pass read before
	// the orgs, and reports whether it did.
	prefetched func(s *Syncer, ctx context.Context, j fetchJob) (bool, error)
	// settles says whether the scope, in this status, lets the account's
	// users be recomputed from the org; nil for resources users do not
	// come from.
	settles func(status string) bool
	// probe reads one page of the resource, for `tursync check`; set for
	// the resources whose access depends on the plan or the token's role.
	probe func(ctx context.Context, c *turso.Client, org string) error
}

// resource is a schema.Registry entry (its tables, kind, feeds) with its
// reader. docs/architecture.md lists what adding a resource touches.
type resource struct {
	*schema.Resource
	reader
}

// readers are the resources' readers, by name: TestEveryResourceHasAReader
// keeps them and schema.Registry the same set.
var readers = map[string]reader{
	schema.ResAccountUsers: {route: turso.RouteCurrentUser, fetch: func(s *Syncer, ctx context.Context, j fetchJob) error {
		return stageList(ctx, s, j, func() ([]turso.User, error) {
			u, err := j.a.API.CurrentUser(ctx)
			return []turso.User{u}, err
		}, func(u turso.User) schema.Row { return mapper.AccountUser(u) })
	}},
	schema.ResOrganization: {route: turso.RouteOrganization, fetch: func(s *Syncer, ctx context.Context, j fetchJob) error {
		return stageList(ctx, s, j, func() ([]turso.Organization, error) {
			o, err := j.a.API.GetOrganization(ctx, j.org)
			return []turso.Organization{o}, err
		}, func(o turso.Organization) schema.Row { return mapper.Organization(o) })
	}},
	schema.ResMembers: {route: turso.RouteMembers, fetch: (*Syncer).fetchMembers, prefetched: (*Syncer).prefetchedMembers,
		settles: func(st string) bool { return st == storage.StatusComplete },
		probe: func(ctx context.Context, c *turso.Client, org string) error {
			return c.Members(ctx, org, func([]turso.Member) error { return nil })
		}},
	schema.ResInvites: {route: turso.RouteInvites, fetch: (*Syncer).fetchInvites, prefetched: (*Syncer).prefetchedInvites,
		// Invites unavailable by plan leave nothing of them to be stale.
		settles: func(st string) bool { return st == storage.StatusComplete || st == storage.StatusUnavailable },
		probe: func(ctx context.Context, c *turso.Client, org string) error {
			_, err := c.ListInvites(ctx, org)
			return err
		}},
	schema.ResDatabases: {route: turso.RouteDatabases, fetch: func(s *Syncer, ctx context.Context, j fetchJob) error {
		st, err := s.stageDatabases(ctx, j.a, j.org, j.of)
		j.sc.Rows = st
		if st != nil {
			j.of.newDatabases = st.New // their details need not wait a pass
		}
		return err
	}},
	schema.ResGroups: {route: turso.RouteGroups, fetch: func(s *Syncer, ctx context.Context, j fetchJob) error {
		return stageList(ctx, s, j, func() ([]turso.Group, error) { return j.a.API.ListGroups(ctx, j.org) },
			func(g turso.Group) schema.Row { return mapper.Group(j.org, g) })
	}},
	schema.ResAPITokens: {route: turso.RouteAPITokens, fetch: func(s *Syncer, ctx context.Context, j fetchJob) error {
		return stageList(ctx, s, j, func() ([]turso.APIToken, error) { return j.a.API.ListAPITokens(ctx, j.org) },
			func(t turso.APIToken) schema.Row { return mapper.APIToken(j.org, t) })
	}, probe: func(ctx context.Context, c *turso.Client, org string) error {
		_, err := c.ListAPITokens(ctx, org)
		return err
	}},
	schema.ResSubscriptions: {route: turso.RouteSubscription, fetch: func(s *Syncer, ctx context.Context, j fetchJob) error {
		return stageList(ctx, s, j, func() ([]turso.Subscription, error) {
			sub, err := j.a.API.GetSubscription(ctx, j.org)
			return []turso.Subscription{sub}, err
		}, func(sub turso.Subscription) schema.Row { return mapper.Subscription(j.org, sub) })
	}, probe: func(ctx context.Context, c *turso.Client, org string) error {
		_, err := c.GetSubscription(ctx, org)
		return err
	}},
	schema.ResPlans: {route: turso.RoutePlans, fetch: func(s *Syncer, ctx context.Context, j fetchJob) error {
		return stageList(ctx, s, j, func() ([]turso.Plan, error) { return j.a.API.ListPlans(ctx, j.org) },
			func(p turso.Plan) schema.Row { return mapper.Plan(j.org, p) })
	}},
	schema.ResInvoices: {route: turso.RouteInvoices, fetch: func(s *Syncer, ctx context.Context, j fetchJob) error {
		return stageList(ctx, s, j, func() ([]turso.Invoice, error) { return j.a.API.ListInvoices(ctx, j.org) },
			func(i turso.Invoice) schema.Row { return mapper.Invoice(j.org, i) })
	}, probe: func(ctx context.Context, c *turso.Client, org string) error {
		_, err := c.ListInvoices(ctx, org)
		return err
	}},
	schema.ResAuditLogs: {route: turso.RouteAuditLogs, fetch: func(s *Syncer, ctx context.Context, j fetchJob) error {
		return s.fetchAudit(ctx, j)
	}, probe: func(ctx context.Context, c *turso.Client, org string) error {
		_, err := c.AuditLogs(ctx, org, 1, 1)
		return err
	}},
	schema.ResUsage: {route: turso.RouteUsage, fetch: func(s *Syncer, ctx context.Context, j fetchJob) error {
		st, err := s.stageUsage(ctx, j.a, j.org, j.of)
		j.sc.Usage = st
		return err
	}},
	schema.ResDatabaseDetails: {route: turso.RouteDatabaseConfig, fetch: (*Syncer).fetchDatabaseDetails},
}

// registry is every resource with a reader, in schema.Registry's order
// (the order a pass handles them).
var registry = func() []resource {
	out := make([]resource, 0, len(schema.Registry))
	for _, r := range schema.Registry {
		if rd, ok := readers[r.Name]; ok {
			out = append(out, resource{Resource: r, reader: rd})
		}
	}
	return out
}()

// resourceNamed returns the registry entry of a resource, or nil.
func resourceNamed(name string) *resource {
	for i := range registry {
		if registry[i].Name == name {
			return &registry[i]
		}
	}
	return nil
}

// Routes maps each resource to the Platform API route it reads.
func Routes() map[string]string {
	out := make(map[string]string, len(registry))
	for _, r := range registry {
		out[r.Name] = r.route
	}
	return out
}

// Probe is one resource's access check (`tursync check`).
type Probe struct {
	Resource string
	Run      func(ctx context.Context) error
}

// Probes read one page of each resource of an org whose access depends on
// the plan or the token's role, in registry order.
func Probes(c *turso.Client, org string) []Probe {
	var out []Probe
	for _, r := range registry {
		if r.probe != nil {
			probe := r.probe
			out = append(out, Probe{Resource: r.Name, Run: func(ctx context.Context) error { return probe(ctx, c, org) }})
		}
	}
	return out
}

// stageList reads a resource the API answers in one page (the org itself,
// its groups, its API tokens, its plans and invoices), maps each element
// and stages the rows.
func stageList[T any](ctx context.Context, s *Syncer, j fetchJob, list func() ([]T, error), toRow func(T) schema.Row) error {
	items, err := list()
	if err != nil {
		return err
	}
	trackerOf(ctx).page(len(items))
	rows := make([]schema.Row, len(items))
	for i, it := range items {
		rows[i] = toRow(it)
	}
	j.sc.Rows, err = j.o.Stage(ctx, rows)
	return err
}
