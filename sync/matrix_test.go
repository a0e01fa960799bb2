package sync_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tursync/tursync/daemon"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tursync/tursync/internal/testlong"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/metrics"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// The fault matrix: every scope of an org, and the account's org list,
// against every way the API is known to fail, over real HTTP. Each case
// changes the simulator (in the faulted scope, in another scope of the same
// org and in the other org), injects one fault for org1 and runs a pass.
// A fresh mirror synced from the same simulator without the fault is the
// oracle: every scope that completed must equal it, every scope that did
// not must equal what it was before the pass, and the next clean pass must
// equal it entirely.

// matrixScope is one row of the matrix.
type matrixScope struct {
	res    string // schema resource; "" for the org list
	route  string
	tables []string // the dumps (orgDump) of what the scope writes
	size   tursotest.Size
	change func(s *tursotest.Server, org string, i int)
	// empty is a well-formed empty answer, and what it must give.
	empty     string
	emptyWant outcome
	wrong     string // valid JSON of the wrong shape
	paged     bool
}

// outcome is what a fault must make of the scope.
type outcome struct {
	status, class string
	retries       int
	// unchanged: the scope completes but the answer carries nothing to
	// write (an empty audit page), so its table must not move.
	unchanged bool
	// wait is the exact Retry-After wait expected, when one is sent.
	wait time.Duration
	// replayed: net/http itself replays an idempotent GET once when a
	// reused connection dies before answering, so a single reset may cost
	// no retry of ours.
	replayed bool
}

var (
	complete1 = outcome{status: storage.StatusComplete, retries: 1}
	decodeErr = outcome{status: storage.StatusFailed, class: "decode"}
)

var matrixBase = tursotest.Size{Orgs: 2, Members: 30, Invites: 12, Databases: 300, Groups: 12, APITokens: 12, AuditEvents: 120}

func sized(f func(*tursotest.Size)) tursotest.Size {
	s := matrixBase
	f(&s)
	return s
}

// matrixUncovered are the resources the matrix leaves to tests of their
// own, and why.
var matrixUncovered = map[string]string{
	schema.ResAccountUsers:    "per account, one object: TestBillingAndAccountUser",
	schema.ResPlans:           "a list per org that the billing tests cover: TestBillingAndAccountUser, TestGatedBillingIsUnavailable",
	schema.ResDatabaseDetails: "opt-in and budgeted: TestDatabaseDetailsBudget, TestDatabaseDetailsOnTheFirstPass",
}

// matrixScopes are the rows of the matrix: the org list, then one per
// resource, each reading the route the registry gives it.
func matrixScopes() []matrixScope {
	out := matrixRows()
	routes := tsync.Routes()
	for i := range out {
		if out[i].res != "" {
			out[i].route = routes[out[i].res]
		}
	}
	return out
}

func matrixRows() []matrixScope {
	guarded := outcome{status: storage.StatusGuarded}
	return []matrixScope{
		{res: "", route: turso.RouteOrganizations, size: matrixBase,
			change:    func(s *tursotest.Server, org string, i int) {},
			empty:     `[]`,
			emptyWant: outcome{status: storage.StatusComplete}, // each unlisted org is confirmed by GET before anything goes
			wrong:     `{"organizations": "not a list"}`},
		{res: schema.ResOrganization, tables: []string{"organizations"}, size: matrixBase,
			change: func(s *tursotest.Server, org string, i int) {
				s.UpdateOrg(org, func(o *tursotest.Organization) { o.Overages = !o.Overages; o.PlanTimeline = fmt.Sprintf("t%d", i) })
			},
			empty: `{"organization": {}}`, emptyWant: decodeErr,
			wrong: `{"organization": "not an object"}`},
		{res: schema.ResMembers, tables: []string{"memberships"}, size: matrixBase,
			change: func(s *tursotest.Server, org string, i int) {
				s.AddMember(org, tursotest.Member{Username: fmt.Sprintf("mx%d-%s", i, org), Role: "member", Email: fmt.Sprintf("mx%d-%s@example.com", i, org)})
				ms := s.Members(org)
				s.SetMemberRole(org, ms[i%len(ms)].Username, []string{"admin", "member", "viewer"}[i%3])
			},
			empty: `{"members": []}`, emptyWant: guarded,
			wrong: `{"members": "not a list"}`},
		{res: schema.ResInvites, tables: []string{"invites", "invited"}, size: matrixBase,
			change: func(s *tursotest.Server, org string, i int) {
				s.CreateInvite(org, fmt.Sprintf("inv%d@example.com", i), "member")
			},
			empty: `{"invites": []}`, emptyWant: guarded,
			wrong: `{"invites": {"email": "x"}}`},
		{res: schema.ResDatabases, tables: []string{"databases"},
			size: sized(func(s *tursotest.Size) { s.Databases = 4100 }), // five pages
			change: func(s *tursotest.Server, org string, i int) {
				dbs := s.Databases(org)
				s.DeleteDatabase(org, dbs[len(dbs)-1-i].Name) // on the last page
				s.UpdateDatabase(org, dbs[len(dbs)*6/10+i].Name, func(d *tursotest.Database) { d.BlockReads = !d.BlockReads })
				s.CreateDatabase(org, fmt.Sprintf("dbx-%d", i), "")
			},
			empty: `{"databases": [], "pagination": {"next": null}}`, emptyWant: guarded,
			wrong: `{"databases": "not a list"}`, paged: true},
		{res: schema.ResGroups, tables: []string{"groups"}, size: matrixBase,
			change: func(s *tursotest.Server, org string, i int) {
				s.CreateGroup(org, fmt.Sprintf("gx-%d", i), "ams")
			},
			empty: `{"groups": []}`, emptyWant: guarded,
			wrong: `{"groups": [1, 2, 3]}`},
		{res: schema.ResAPITokens, tables: []string{"api_tokens"}, size: matrixBase,
			change: func(s *tursotest.Server, org string, i int) {
				s.CreateAPIToken(org, fmt.Sprintf("tx-%d", i))
			},
			empty: `{"tokens": []}`, emptyWant: guarded,
			wrong: `{"tokens": "not a list"}`},
		{res: schema.ResSubscriptions, tables: []string{"subscriptions"}, size: matrixBase,
			change: func(s *tursotest.Server, org string, i int) {
				s.UpdateOrg(org, func(o *tursotest.Organization) { o.PlanID = []string{"starter", "scaler", "pro"}[i%3] })
			},
			empty: `{"subscription": {}}`, emptyWant: decodeErr,
			wrong: `{"subscription": ["scaler"]}`},
		{res: schema.ResInvoices, tables: []string{"invoices"}, size: matrixBase,
			change: func(s *tursotest.Server, org string, i int) {
				s.AddInvoice(org, fmt.Sprintf("%d.00", 30+i))
			},
			empty: `{"invoices": []}`, emptyWant: guarded, // a year of invoices is more than min_rows
			wrong: `{"invoices": {"invoice_number": "x"}}`},
		{res: schema.ResAuditLogs, tables: []string{"audit_logs"},
			size: sized(func(s *tursotest.Size) { s.AuditEvents = 450 }), // five pages
			change: func(s *tursotest.Server, org string, i int) {
				// Three pages of new events, so that page 3 is read.
				for k := 0; k < 210; k++ {
					s.AppendAudit(org, "db-create", "system", map[string]any{"case": i, "k": k})
				}
			},
			empty:     `{"audit_logs": [], "pagination": {"page": 1, "page_size": 100, "total_pages": 0, "total_rows": 0}}`,
			emptyWant: outcome{status: storage.StatusComplete, unchanged: true}, // append-only: nothing to remove
			wrong:     `{"audit_logs": {"code": "x"}}`, paged: true},
		{res: schema.ResUsage, tables: []string{"usage"}, size: matrixBase,
			change: func(s *tursotest.Server, org string, i int) {
				s.AddUsage(org, s.Databases(org)[i].Name, 1000, 10)
			},
			empty: `{"organization": {"uuid": "u", "usage": {"rows_read": 0, "rows_written": 0, "databases": 0, "locations": 0,` +
				` "storage_bytes": 0, "groups": 0, "bytes_synced": 0}, "databases": []}}`,
			emptyWant: outcome{status: storage.StatusComplete, unchanged: true},
			wrong:     `{"organization": "not an object"}`},
	}
}

// matrixFault is one column of the matrix.
type matrixFault struct {
	name  string
	fault func(e *env, sc matrixScope) tursotest.Fault
	want  func(sc matrixScope) outcome
	paged bool // only for paginated scopes
	stall bool // needs the short client timeout
}

func fixed(f tursotest.Fault) func(*env, matrixScope) tursotest.Fault {
	return func(*env, matrixScope) tursotest.Fault { return f }
}

func always(o outcome) func(matrixScope) outcome { return func(matrixScope) outcome { return o } }

const html502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>\r\n"
const html503 = "<!DOCTYPE html><html><body><h1>503 Service Temporarily Unavailable</h1><p>upstream overloaded</p></body></html>"

func matrixFaults() []matrixFault {
	const tries = 3 // the env client's MaxRetries
	return []matrixFault{
		{name: "429 once", fault: fixed(tursotest.Fault{Status: 429, Times: 1}), want: always(complete1)},
		{name: "429 once, Retry-After 7", fault: fixed(tursotest.Fault{Status: 429, RetryAfter: "7", Times: 1}),
			want: always(outcome{status: storage.StatusComplete, retries: 1, wait: 7 * time.Second})},
		{name: "429 once, Retry-After HTTP date", fault: func(e *env, _ matrixScope) tursotest.Fault {
			return tursotest.Fault{Status: 429, Times: 1, RetryAfter: e.clk.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)}
		}, want: always(outcome{status: storage.StatusComplete, retries: 1, wait: 20 * time.Second})},
		{name: "429 once, Retry-After 86400 capped", fault: fixed(tursotest.Fault{Status: 429, RetryAfter: "86400", Times: 1}),
			want: always(outcome{status: storage.StatusComplete, retries: 1, wait: turso.MaxRetryAfter})},
		{name: "429 always", fault: fixed(tursotest.Fault{Status: 429}),
			want: always(outcome{status: storage.StatusFailed, class: "rate_limited", retries: tries})},
		{name: "429 always, Retry-After 1", fault: fixed(tursotest.Fault{Status: 429, RetryAfter: "1"}),
			want: always(outcome{status: storage.StatusFailed, class: "rate_limited", retries: tries, wait: time.Second})},
		{name: "500 once", fault: fixed(tursotest.Fault{Status: 500, Times: 1}), want: always(complete1)},
		{name: "500 always", fault: fixed(tursotest.Fault{Status: 500}),
			want: always(outcome{status: storage.StatusFailed, class: "server", retries: tries})},
		{name: "502 HTML", fault: fixed(tursotest.Fault{Status: 502, Body: html502}),
			want: always(outcome{status: storage.StatusFailed, class: "server", retries: tries})},
		{name: "503 HTML", fault: fixed(tursotest.Fault{Status: 503, Body: html503}),
			want: always(outcome{status: storage.StatusFailed, class: "server", retries: tries})},
		{name: "connection reset once", fault: fixed(tursotest.Fault{Reset: true, Times: 1}),
			want: always(outcome{status: storage.StatusComplete, retries: 1, replayed: true})},
		{name: "connection reset always", fault: fixed(tursotest.Fault{Reset: true}),
			want: always(outcome{status: storage.StatusFailed, class: "network", retries: tries})},
		{name: "stall past the timeout once", fault: fixed(tursotest.Fault{Delay: time.Minute, Times: 1}), want: always(complete1), stall: true},
		{name: "stall past the timeout always", fault: fixed(tursotest.Fault{Delay: time.Minute}),
			want: always(outcome{status: storage.StatusFailed, class: "network", retries: tries}), stall: true},
		{name: "truncated JSON", fault: fixed(tursotest.Fault{Truncate: true}), want: always(decodeErr)},
		{name: "malformed JSON", fault: fixed(tursotest.Fault{Malformed: true}), want: always(decodeErr)},
		{name: "wrong shape", fault: func(_ *env, sc matrixScope) tursotest.Fault { return tursotest.Fault{Body: sc.wrong} }, want: always(decodeErr)},
		{name: "empty list", fault: func(_ *env, sc matrixScope) tursotest.Fault { return tursotest.Fault{Body: sc.empty} },
			want: func(sc matrixScope) outcome { return sc.emptyWant }},
		{name: "401", fault: fixed(tursotest.Fault{Status: 401}), want: always(outcome{status: storage.StatusFailed, class: "auth"})},
		{name: "402", fault: fixed(tursotest.Fault{Status: 402}), want: always(outcome{status: storage.StatusUnavailable, class: "plan"})},
		{name: "403", fault: fixed(tursotest.Fault{Status: 403}), want: always(outcome{status: storage.StatusUnavailable, class: "forbidden"})},
		{name: "404 org vanished", fault: fixed(tursotest.Fault{Status: 404, Body: `{"error": "organization not found"}`}),
			want: always(outcome{status: storage.StatusFailed, class: "not_found"})},
		{name: "cursor repeats forever", paged: true, fault: func(e *env, sc matrixScope) tursotest.Fault {
			if sc.res == schema.ResDatabases {
				return tursotest.Fault{After: 1, Body: `{"databases": [{"Name": "loop", "DbId": "loop-id"}], "pagination": {"next": "bG9vcA=="}}`}
			}
			// Audit logs page by number: a server that sends the same
			// page of fresh events for every number, and claims more.
			at := e.clk.Now().UTC().Format(time.RFC3339)
			return tursotest.Fault{After: 1, Body: `{"audit_logs": [{"code": "db-create", "message": "", "origin": "cli", "author": "x", "created_at": "` +
				at + `", "data": {}}], "pagination": {"page": 1, "page_size": 100, "total_pages": 1000000, "total_rows": 100000000}}`}
		}, want: always(decodeErr)},
		{name: "error on page 3", paged: true, fault: fixed(tursotest.Fault{After: 2, Status: 500}),
			want: always(outcome{status: storage.StatusFailed, class: "server", retries: tries})},
		{name: "cursor refused on page 3", paged: true, fault: fixed(tursotest.Fault{After: 2, Status: 400, Body: `{"error": "invalid cursor"}`}),
			want: always(outcome{status: storage.StatusFailed, class: "server"})},
	}
}

// orgDump is what the oracle compares: per table, the org's live rows
// (content hashes, or the identifying columns of append-only tables).
var orgDump = []struct{ table, q string }{
	{"organizations", `SELECT content_hash FROM organizations WHERE account_id = 'acme' AND organization_id = ? AND deleted_at IS NULL`},
	{"memberships", `SELECT content_hash FROM role_assignments WHERE account_id = 'acme' AND organization_id = ? AND source = 'members' AND deleted_at IS NULL`},
	{"invited", `SELECT content_hash FROM role_assignments WHERE account_id = 'acme' AND organization_id = ? AND source = 'invites' AND deleted_at IS NULL`},
	{"invites", `SELECT content_hash FROM invites WHERE account_id = 'acme' AND organization_id = ? AND deleted_at IS NULL`},
	{"databases", `SELECT content_hash FROM databases WHERE account_id = 'acme' AND organization_id = ? AND deleted_at IS NULL`},
	{"groups", `SELECT content_hash FROM "groups" WHERE account_id = 'acme' AND organization_id = ? AND deleted_at IS NULL`},
	{"api_tokens", `SELECT content_hash FROM api_tokens WHERE account_id = 'acme' AND organization_id = ? AND deleted_at IS NULL`},
	{"subscriptions", `SELECT content_hash FROM subscriptions WHERE account_id = 'acme' AND organization_id = ? AND deleted_at IS NULL`},
	{"invoices", `SELECT content_hash FROM invoices WHERE account_id = 'acme' AND organization_id = ? AND deleted_at IS NULL`},
	{"audit_logs", `SELECT id FROM audit_logs WHERE account_id = 'acme' AND organization_id = ?`},
	// A time series: the day's row of a database deleted since stays, so
	// only the rows the oracle has are compared (see diff).
	{"usage", `SELECT day || '|' || database_id || '|' || rows_read || '|' || rows_written || '|' || storage_bytes || '|' || bytes_synced
		FROM usage WHERE account_id = 'acme' AND organization_id = ?`},
}

// mirrorState is every org's dump plus the account's users.
type mirrorState map[string][]string // "org/table" or "users" -> sorted rows

func readState(t *testing.T, db *sql.DB, orgs []string) mirrorState {
	t.Helper()
	st := mirrorState{}
	read := func(key, q string, args ...any) {
		rows, err := db.Query(q+" ORDER BY 1", args...)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			st[key] = append(st[key], s)
		}
	}
	for _, org := range orgs {
		for _, d := range orgDump {
			read(org+"/"+d.table, d.q, org)
		}
	}
	read("users", `SELECT content_hash FROM users WHERE account_id = 'acme' AND deleted_at IS NULL`)
	return st
}

// diff counts the rows of want missing from got (lost) and the rows of got
// not in want (wrong), for the keys that keep says to compare.
func (got mirrorState) diff(want mirrorState, keep func(key string) bool) (lost, wrong int, where []string) {
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	for k := range keys {
		if !keep(k) {
			continue
		}
		g, w := got[k], want[k]
		l, x := 0, 0
		for _, r := range w {
			if _, ok := slices.BinarySearch(g, r); !ok {
				l++
			}
		}
		series := strings.HasSuffix(k, "/usage")
		wantKeys := map[string]bool{}
		if series {
			for _, r := range w {
				wantKeys[usageKey(r)] = true
			}
		}
		for _, r := range g {
			if series && !wantKeys[usageKey(r)] {
				continue // an earlier observation the oracle never made
			}
			if _, ok := slices.BinarySearch(w, r); !ok {
				x++
			}
		}
		if l+x > 0 {
			where = append(where, fmt.Sprintf("%s: %d missing, %d unexpected", k, l, x))
		}
		lost, wrong = lost+l, wrong+x
	}
	slices.Sort(where)
	return lost, wrong, where
}

// withoutOrgUsage drops the org-level rows (database_id ”) of usage.
func (st mirrorState) withoutOrgUsage() mirrorState {
	out := mirrorState{}
	for k, rows := range st {
		if strings.HasSuffix(k, "/usage") {
			rows = slices.DeleteFunc(slices.Clone(rows), func(r string) bool { return strings.HasSuffix(usageKey(r), "|") })
		}
		out[k] = rows
	}
	return out
}

// usageKey is the day and database of a usage dump row.
func usageKey(row string) string {
	day, rest, _ := strings.Cut(row, "|")
	db, _, _ := strings.Cut(rest, "|")
	return day + "|" + db
}

// wrongTombstones counts rows the mirror tombstoned that the oracle holds live.
func wrongTombstones(t *testing.T, mirror, oracle *sql.DB) int {
	t.Helper()
	n := 0
	for _, tbl := range entityTables {
		dead := map[string]bool{}
		rows, err := mirror.Query(`SELECT content_hash FROM "` + tbl + `" WHERE deleted_at IS NOT NULL`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var h string
			rows.Scan(&h)
			dead[h] = true
		}
		rows.Close()
		rows, err = oracle.Query(`SELECT content_hash FROM "` + tbl + `" WHERE deleted_at IS NULL`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var h string
			rows.Scan(&h)
			if dead[h] {
				n++
			}
		}
		rows.Close()
	}
	return n
}

// matrixTotals is what the whole matrix measured, for docs/RELIABILITY.md.
type matrixTotals struct {
	scenarios, faulted, retries, lost, wrong, tombstones, leaks atomic.Int64
}

// Every resource of the registry has its row in the fault matrix, or a
// reason it has none: a new resource cannot skip it unnoticed.
func TestFaultMatrixCoversEveryResource(t *testing.T) {
	rows := map[string]bool{}
	for _, sc := range matrixScopes() {
		if sc.res != "" && sc.route == "" {
			t.Errorf("matrix row %s reads no route of the registry", sc.res)
		}
		rows[sc.res] = true
	}
	for _, r := range schema.Registry {
		if _, why := matrixUncovered[r.Name]; !rows[r.Name] && !why {
			t.Errorf("resource %s has no row in the fault matrix (matrixRows) and no reason in matrixUncovered", r.Name)
		}
	}
}

func TestFaultMatrix(t *testing.T) {
	testlong.Skip(t)
	var tot matrixTotals
	t.Run("scopes", func(t *testing.T) {
		for _, sc := range matrixScopes() {
			name := sc.res
			if name == "" {
				name = "org_list"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				runMatrixScope(t, sc, &tot)
			})
		}
	})
	t.Logf("fault matrix: %d scenarios, %d faulted responses, %d retries; rows lost %d, rows wrong %d, wrong tombstones %d, token leaks %d",
		tot.scenarios.Load(), tot.faulted.Load(), tot.retries.Load(), tot.lost.Load(), tot.wrong.Load(), tot.tombstones.Load(), tot.leaks.Load())
}

func runMatrixScope(t *testing.T, sc matrixScope, tot *matrixTotals) {
	e := newEnv(t, sc.size)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test", "go")
	e.obs, e.opts.Metrics = m, m
	// /status is served as the daemon serves it, from a scheduler that
	// is never started: only its view of the mirror is read.
	sched := daemon.NewScheduler(tsync.MirrorOf(e.store), e.store, e.opts, m)
	if err := sched.SetJobs([]daemon.Job{{ID: "acme", Schedule: "@every 15m", Account: func() (tsync.Account, error) { return tsync.Account{}, nil }}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(metrics.Handler(reg, metrics.Probes{Alive: sched.Alive, Ready: func(context.Context) error { return nil }, Status: sched.StatusProbe}))
	defer srv.Close()
	// Each error text, /metrics and /status body is searched for the token
	// as it is seen; leaks names where it was found.
	var leaks []string
	expose := func(where, text string) {
		if strings.Contains(text, testToken) {
			leaks = append(leaks, where)
		}
	}

	orgs := e.sim.Orgs()
	if sc.paged && sc.res == schema.ResDatabases {
		e.sim.SetDatabases("org2", 300) // only org1 needs five pages
	}
	if r := e.pass(); r.Status != storage.StatusComplete {
		t.Fatalf("first pass: %s %v", r.Status, r.Err)
	}
	// The other scope of org1 that each case changes.
	otherRes := schema.ResMembers
	if sc.res == schema.ResMembers {
		otherRes = schema.ResGroups
	}
	oi := slices.IndexFunc(matrixScopes(), func(m matrixScope) bool { return m.res == otherRes })
	other := matrixScopes()[oi]
	for i, f := range matrixFaults() {
		if f.paged && !sc.paged {
			continue
		}
		want := f.want(sc)
		t.Run(f.name, func(t *testing.T) {
			sc.change(e.sim, "org1", i)
			sc.change(e.sim, "org2", i)
			other.change(e.sim, "org1", i)
			before := readState(t, e.db(), orgs)

			e.sim.ResetLog()
			target := "org1"
			if sc.res == "" {
				target = "" // the org list is the account's
			}
			e.sim.Inject(sc.route, target, f.fault(e, sc))
			e.mu.Lock()
			e.sleeps = nil
			e.mu.Unlock()
			timeout := e.timeout
			if f.stall {
				// Long enough for any answer of these small orgs on
				// loopback (a 1,000-database page takes some 20 ms), short
				// enough that the stalls, waited for in real time, do not
				// make the matrix the suite's long pole.
				e.timeout = 500 * time.Millisecond
			}
			r := e.pass()
			e.timeout = timeout
			e.sim.ClearFaults()
			tot.faulted.Add(int64(countFaulted(e.sim.Requests())))
			tot.scenarios.Add(1)
			tot.retries.Add(r.Stats.Retries)
			expose("the pass's error", fmt.Sprint(r.Err))
			for _, o := range r.Orgs {
				expose("an org's error", fmt.Sprint(o.Err))
				for _, s := range o.Scopes {
					expose("a scope's error", s.Error)
				}
			}

			// The scope's status, class and retries.
			accountFails := (sc.res == "" && want.status != storage.StatusComplete) || want.class == "auth"
			switch {
			case accountFails:
				if r.Status != storage.StatusFailed || string(turso.ClassOf(r.Err)) != want.class {
					t.Errorf("pass %s (%v), want failed with class %s", r.Status, r.Err, want.class)
				}
			case sc.res == "":
				if r.Status != storage.StatusComplete {
					t.Errorf("pass %s (%v), want complete", r.Status, r.Err)
				}
			default:
				got := scope(t, r, "org1", sc.res)
				if got.Status != want.status || got.ErrorClass != want.class {
					t.Errorf("scope %s/%s (%s), want %s/%s", got.Status, got.ErrorClass, got.Error, want.status, want.class)
				}
				if want.status == storage.StatusGuarded && got.DeletesHeld == 0 {
					t.Errorf("guarded scope holds no deletes")
				}
			}
			if want.replayed && r.Stats.Retries == 0 {
				// Replayed by the transport: the fault was still served.
				if n := countFaulted(e.sim.Requests()); n != 1 {
					t.Errorf("faulted answers %d, want 1", n)
				}
			} else if r.Stats.Retries != int64(want.retries) {
				t.Errorf("retries %d, want %d", r.Stats.Retries, want.retries)
			}
			if want.wait > 0 {
				e.mu.Lock()
				sleeps := slices.Clone(e.sleeps)
				e.mu.Unlock()
				// The first wait is the Retry-After exactly (it is longer
				// than the first backoff); later ones may back off longer.
				if len(sleeps) != want.retries || len(sleeps) > 0 && sleeps[0] != want.wait {
					t.Errorf("waits %v, want %d starting with exactly %v", sleeps, want.retries, want.wait)
				}
				for _, s := range sleeps {
					if s < want.wait {
						t.Errorf("waited %v, less than the Retry-After %v", s, want.wait)
					}
				}
			}

			// The oracle: a fresh mirror synced without the fault.
			oracle := syncOracle(t, e)
			wantState := readState(t, oracle.DB(), orgs)
			got := readState(t, e.db(), orgs)
			faulted := func(key string) bool {
				for _, tbl := range sc.tables {
					if key == "org1/"+tbl {
						return true
					}
				}
				return false
			}
			var lost, wrong int
			var where []string
			if accountFails {
				// Rule 7 and the org list: nothing of the account moves.
				lost, wrong, where = got.diff(before, func(string) bool { return true })
			} else {
				l, w, wh := got.diff(wantState, func(k string) bool {
					if k == "users" {
						return false // settled only when every org's members completed
					}
					return !faulted(k) || (want.status == storage.StatusComplete && !want.unchanged)
				})
				lost, wrong, where = l, w, wh
				if want.status != storage.StatusComplete || want.unchanged {
					got, before := got, before
					if sc.res == schema.ResUsage && want.unchanged {
						// The org's own usage row records what the API
						// said, zero included; no database's row may move.
						got, before = got.withoutOrgUsage(), before.withoutOrgUsage()
					}
					l, w, wh := got.diff(before, faulted)
					lost, wrong, where = lost+l, wrong+w, append(where, wh...)
				}
			}
			if len(where) > 0 {
				t.Errorf("mirror after the faulty pass differs: %s", strings.Join(where, "; "))
			}
			tomb := wrongTombstones(t, e.db(), oracle.DB())
			if tomb > 0 {
				t.Errorf("%d rows tombstoned that the API still lists", tomb)
			}
			tot.lost.Add(int64(lost))
			tot.wrong.Add(int64(wrong))
			tot.tombstones.Add(int64(tomb))

			expose("/metrics", httpBody(t, srv.URL+"/metrics"))
			expose("/status", httpBody(t, srv.URL+"/status"))

			// The next clean pass converges to exactly the simulator.
			if r := e.pass(); r.Status != storage.StatusComplete {
				t.Fatalf("clean pass: %s %v", r.Status, r.Err)
			}
			if _, _, where := readState(t, e.db(), orgs).diff(wantState, func(string) bool { return true }); len(where) > 0 {
				t.Errorf("clean pass did not converge: %s", strings.Join(where, "; "))
			}
			// The oracle is tursync's own reading: anchor it to what the
			// simulator holds.
			for _, org := range orgs {
				for what, want := range map[string]int{
					`SELECT count(*) FROM role_assignments WHERE organization_id = ? AND source = 'members' AND deleted_at IS NULL`: len(e.sim.Members(org)),
					`SELECT count(*) FROM invites WHERE organization_id = ? AND deleted_at IS NULL`:                                 len(e.sim.Invites(org)),
					`SELECT count(*) FROM databases WHERE organization_id = ? AND deleted_at IS NULL`:                               len(e.sim.Databases(org)),
					`SELECT count(*) FROM "groups" WHERE organization_id = ? AND deleted_at IS NULL`:                                len(e.sim.Groups(org)),
					`SELECT count(*) FROM api_tokens WHERE organization_id = ? AND deleted_at IS NULL`:                              len(e.sim.APITokens(org)),
					`SELECT count(*) FROM audit_logs WHERE organization_id = ?`:                                                     e.sim.AuditEvents(org),
				} {
					if got := e.count(what, org); got != want {
						t.Errorf("%s: %s = %d, the simulator has %d", org, what, got, want)
					}
				}
			}
		})
	}

	// Not one byte of the token anywhere: logs, errors, /metrics, /status,
	// the mirror and its WAL.
	leaks = append(leaks, e.tokenLeaks()...)
	for _, where := range leaks {
		t.Errorf("token found in %s", where)
	}
	tot.leaks.Add(int64(len(leaks)))
}

func countFaulted(reqs []tursotest.Request) int {
	n := 0
	for _, r := range reqs {
		if r.Faulted {
			n++
		}
	}
	return n
}

// syncOracle syncs the simulator as it is now into a fresh mirror.
func syncOracle(t *testing.T, e *env) *storage.Store {
	t.Helper()
	st := testmirror.OpenFile(t, storage.Options{Now: e.clk.Now}).Store
	opts := tsync.Options{Now: e.clk.Now}
	if r := tsync.New(tsync.MirrorOf(st), opts).SyncAccount(context.Background(), tsync.Account{ID: "acme", API: e.client(testToken)}); r.Status != storage.StatusComplete {
		t.Fatalf("oracle pass: %s %v", r.Status, r.Err)
	}
	return st
}

func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}
