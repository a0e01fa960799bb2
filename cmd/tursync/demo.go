package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// demoQueries are what an analyst would ask the mirror first.
var demoQueries = []struct{ title, sql string }{
	{"Access review: who holds admin or owner, and since when", `SELECT organization_id, username, email, role_id, since
  FROM access_review WHERE role_id IN ('owner', 'admin') ORDER BY organization_id, role_id, username LIMIT 5;`},
	{"Pending invites, oldest first", `SELECT organization_id, email, role, age_days
  FROM pending_invites ORDER BY age_days DESC LIMIT 5;`},
	{"Databases per group and primary region", `SELECT organization_id, group_name, primary_region, count(*) AS databases
  FROM databases WHERE deleted_at IS NULL
  GROUP BY 1, 2, 3 ORDER BY databases DESC LIMIT 5;`},
	{"Plans, limits and unpaid invoices", `SELECT organization_id, pricing_plan, timeline, databases, quota_databases, unpaid_invoices, amount_unpaid
  FROM organization_billing ORDER BY organization_id LIMIT 5;`},
	{"Where each database runs, and how fresh that is", `SELECT f.organization_id, f.database_name, json_extract(dd.instances, '$[0].region') AS primary_instance, f.age_seconds
  FROM database_details_freshness f JOIN database_details dd
    ON dd.account_id = f.account_id AND dd.organization_id = f.organization_id AND dd.id = f.database_id
  ORDER BY f.organization_id, f.database_name LIMIT 5;`},
}

// serveSimulator starts the simulator on a loopback port and returns its
// base URL and a stop func.
func serveSimulator(addr string, sim *tursotest.Server) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("simulator listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String(), stop, nil
}

func (m *Main) runDemo(ctx context.Context, args []string) error {
	fs := m.flags("demo")
	db := fs.String("db", "./tursync-demo.db", "mirror file to write")
	seed := fs.Uint64("seed", 1, "simulator seed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	const token = "demo-token"
	sim := tursotest.New(tursotest.Config{Seed: *seed, Size: tursotest.Small, Token: token})
	base, stop, err := serveSimulator("127.0.0.1:0", sim)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(m.Stdout, "simulated Turso API on %s (%d orgs); mirror %s\n\n", base, len(sim.Orgs()), *db)

	st, err := storage.Open(ctx, "file:"+*db, storage.Options{Now: m.Now})
	if err != nil {
		return err
	}
	defer st.Close()
	client, err := turso.NewClient(turso.Options{BaseURL: base, Token: turso.NewSecret(token)})
	if err != nil {
		return err
	}
	cfg := DefaultConfig()
	o := m.wiring().syncerOptions(cfg, newLogger(m.Stderr, "warn", "text"))
	o.Trigger = "demo"
	// The demo's budget covers every database, so a second demo changes
	// nothing; a daemon's default refreshes 500 databases a pass.
	for _, org := range sim.Orgs() {
		o.DetailsBudget += 2 * len(sim.Databases(org))
	}
	// database_details is opt-in; the demo shows it.
	resources := append(slices.Clone(schema.DefaultResources), schema.ResDatabaseDetails)
	res := tsync.New(tsync.MirrorOf(st), o).SyncAccount(ctx, tsync.Account{ID: "demo", API: client, Resources: resources})
	printResults(m.Stdout, []tsync.Result{res}, false)

	counts, err := st.Summary(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "\nrows in the mirror:\n")
	tw := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, c := range counts {
		fmt.Fprintf(tw, "  %s\t%d\t\n", c.Table, c.Live)
	}
	tw.Flush()
	for _, q := range demoQueries {
		fmt.Fprintf(m.Stdout, "\n-- %s\n%s\n", q.title, q.sql)
		if err := printQuery(ctx, m, st.DB(), q.sql); err != nil {
			return err
		}
	}
	fmt.Fprintf(m.Stdout, "\nTry: sqlite3 %s 'select * from access_review limit 5'\n", *db)
	if res.Failed() {
		return ErrSyncFailed
	}
	return nil
}

func printQuery(ctx context.Context, m *Main, db *sql.DB, q string) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("demo query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			cells[i] = fmt.Sprint(v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	return rows.Err()
}

func (m *Main) runSimulate(ctx context.Context, args []string) error {
	fs := m.flags("simulate")
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve on")
	seed := fs.Uint64("seed", 1, "generator seed")
	scale := fs.String("scale", "small", "small or large")
	token := fs.String("token", "", "accept only this bearer token (default: any non-empty token)")
	fleet := fs.Int("fleet", 0, "serve N accounts; token fleet-<i> sees only its own small org")
	latency := fs.Duration("latency", 0, "delay every response by this much")
	databases := fs.Int("databases", -1, "databases per org, instead of the scale's (for cost-growth benchmarks)")
	members := fs.Int("members", -1, "members per org, instead of the scale's (for hostile-size runs)")
	tenantSQLD := fs.String("tenant-sqld", "", "back every database with a namespace of this sqld (started with --enable-namespaces and --auth-jwt-key-file), created and seeded on first use")
	tenantAdmin := fs.String("tenant-sqld-admin", "", "the admin listener of --tenant-sqld, which creates the namespaces")
	tenantKey := fs.String("tenant-jwt-key", "", "Ed25519 private key (PKCS#8 PEM) whose public half --tenant-sqld checks; the token endpoints sign with it")
	var faults []simFault
	fs.Func("fault", "RESOURCE:ORG:STATUS: answer STATUS to every request for RESOURCE of ORG (* for every org); repeatable, e.g. members:org2:500", func(v string) error {
		f, err := parseSimFault(v)
		if err == nil {
			faults = append(faults, f)
		}
		return err
	})
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	size, err := tursotest.ScaleSize(*scale)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if *fleet < 0 {
		return &UsageError{Msg: "--fleet must not be negative"}
	}
	if *databases >= 0 {
		size.Databases = *databases
	}
	if *members >= 0 {
		size.Members = *members
	}
	bed, err := tenantBed(*tenantSQLD, *tenantAdmin, *tenantKey)
	if err != nil {
		return err
	}
	sim := tursotest.New(tursotest.Config{Seed: *seed, Size: size, Token: *token, Fleet: *fleet, Latency: *latency, Tenants: bed})
	for _, f := range faults {
		sim.Inject(f.route, f.org, tursotest.Fault{Status: f.status})
	}
	base, stop, err := serveSimulator(*listen, sim)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(m.Stdout, "simulated Turso Platform API on %s (scale %s, seed %d)\n", base, *scale, *seed)
	<-ctx.Done()
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return nil
	}
	return nil
}

// tenantBed is the --tenant-* flags' test bed, or nil when none is set.
func tenantBed(sqld, admin, keyFile string) (*tursotest.TenantBed, error) {
	if sqld == "" && admin == "" && keyFile == "" {
		return nil, nil
	}
	if sqld == "" || admin == "" || keyFile == "" {
		return nil, &UsageError{Msg: "--tenant-sqld, --tenant-sqld-admin and --tenant-jwt-key go together"}
	}
	key, err := tursotest.ReadTenantKey(keyFile)
	if err != nil {
		return nil, &UsageError{Msg: "--tenant-jwt-key: " + err.Error()}
	}
	return &tursotest.TenantBed{SQLD: strings.TrimRight(sqld, "/"), Admin: strings.TrimRight(admin, "/"), Key: key}, nil
}

// simRoutes maps the resources a --fault names to their route templates.
var simRoutes = tsync.Routes()

// simFault is one --fault of tursync simulate.
type simFault struct {
	route, org string
	status     int
}

func parseSimFault(v string) (simFault, error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return simFault{}, fmt.Errorf("want RESOURCE:ORG:STATUS, not %q", v)
	}
	route, ok := simRoutes[parts[0]]
	if !ok {
		return simFault{}, fmt.Errorf("unknown resource %q (want one of %s)", parts[0], strings.Join(schema.Resources, ", "))
	}
	status, err := strconv.Atoi(parts[2])
	if err != nil || status < 400 || status > 599 {
		return simFault{}, fmt.Errorf("status %q: want an HTTP error status (400-599)", parts[2])
	}
	org := parts[1]
	if org == "*" {
		org = ""
	}
	return simFault{route: route, org: org, status: status}, nil
}
