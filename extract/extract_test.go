package extract_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tursodatabase/libsql-client-go/libsql"

	"github.com/tursync/tursync/extract"
	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// jwtPrefix starts every token the bed mints: base64 of {"alg":"EdDSA".
const jwtPrefix = "eyJhbGciOiJFZERTQSI"

// bed is the test bed of issue 12: a real sqld with a namespace per
// simulated database, the simulator minting JWTs it accepts, and a mirror
// the sync has filled.
type bed struct {
	t       *testing.T
	tenants *tursotest.TenantBed
	sim     *tursotest.Server
	client  *turso.Client
	store   *storage.Store
	mirror  string // the mirror file, "" on sqld
	logs    *bytes.Buffer
}

func newBed(t *testing.T, mirror string) *bed {
	t.Helper()
	srv := sqldtest.Start(t, sqldtest.Options{Auth: true, Namespaces: true})
	b := &bed{t: t, tenants: &tursotest.TenantBed{SQLD: srv.URL, Admin: srv.Admin, Key: srv.Key()}, logs: &bytes.Buffer{}}
	sim, simURL := tursotest.NewServer(t, tursotest.Config{Seed: 12, Size: tursotest.Size{Orgs: 2, Members: 3, Databases: 6, Groups: 2}, Tenants: b.tenants})
	b.sim = sim
	c, err := turso.NewClient(turso.Options{BaseURL: simURL, Token: turso.NewSecret("acme-token"), Timeout: 10 * time.Second,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	b.client = c
	url := ""
	if mirror == "sqld" {
		url = sqldtest.Start(t, sqldtest.Options{}).URL
	} else {
		b.mirror = filepath.Join(t.TempDir(), "mirror.db")
		url = "file:" + b.mirror
	}
	b.store = testmirror.OpenURL(t, url, storage.Options{BusyTimeout: 5 * time.Second}).Store
	b.sync()
	return b
}

func (b *bed) sync() {
	b.t.Helper()
	res := tsync.New(tsync.MirrorOf(b.store), tsync.Options{}).SyncAccount(context.Background(), tsync.Account{ID: "acme", API: b.client})
	if res.Err != nil {
		b.t.Fatalf("sync: %v", res.Err)
	}
}

func (b *bed) extractor(proxy string, concurrency int) *extract.Extractor {
	return extract.New(b.store.Extracts(), extract.Options{Concurrency: concurrency, TokenTTL: time.Hour, DatabaseURL: "http://{hostname}", Proxy: proxy,
		Logger: slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
}

func (b *bed) accounts(string) (extract.Minter, error) { return b.client, nil }

// tenantDB opens a namespace directly with a read-write token, as the
// tenant's own application would.
func (b *bed) tenantDB(hostname string) *sql.DB {
	b.t.Helper()
	conn, err := libsql.NewConnector("http://"+hostname, libsql.WithProxy(b.tenants.SQLD),
		libsql.WithAuthToken(b.tenants.TenantToken(true, time.Hour, time.Now(), tursotest.Namespace(hostname))))
	if err != nil {
		b.t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	b.t.Cleanup(func() { db.Close() })
	return db
}

const daily = "select date(created_at) as day, count(*) as orders, sum(total) as revenue from orders group by 1"

func dailyQuery() extract.Query {
	return extract.Query{Name: "orders_daily", SQL: daily, Accounts: []string{"acme"}, Group: "*", Database: "*", Timeout: 10 * time.Second, MaxRows: 10000}
}

// TestExtractMatchesEveryTenant runs a query over every tenant database of
// the bed and checks each database's snapshot against what its namespace
// holds, the view, the token count and that no token reached the mirror or
// the logs.
func TestExtractMatchesEveryTenant(t *testing.T) {
	for _, mirror := range []string{"file", "sqld"} {
		t.Run(mirror, func(t *testing.T) {
			b := newBed(t, mirror)
			ctx := context.Background()
			ex := b.extractor(b.tenants.SQLD, 4)
			sum, err := ex.Run(ctx, dailyQuery(), b.accounts, "manual")
			if err != nil {
				t.Fatal(err)
			}
			var dbs []tursotest.Database
			for _, org := range b.sim.Orgs() {
				dbs = append(dbs, b.sim.Databases(org)...)
			}
			if sum.OK != len(dbs) || sum.Failed != 0 || sum.Skipped != 0 {
				t.Fatalf("summary %+v; want %d ok (logs: %s)", sum, len(dbs), b.logs)
			}
			// One token per (org, group) with databases.
			groups := map[string]bool{}
			for _, org := range b.sim.Orgs() {
				for _, d := range b.sim.Databases(org) {
					groups[org+"/"+d.Group] = true
				}
			}
			if ex.Mints() != len(groups) || b.sim.Mints() != len(groups) {
				t.Errorf("minted %d (simulator saw %d); want one per group with databases, %d", ex.Mints(), b.sim.Mints(), len(groups))
			}
			var total int64
			for _, d := range dbs {
				want := dailyRows(t, b.tenantDB(d.Hostname), daily+" order by 1")
				got := dailyRows(t, b.store.DB(), `select day, orders, revenue from extract_orders_daily where database_id = '`+d.DbID+`' order by day`)
				if got != want {
					t.Errorf("%s: snapshot\n %.300s\nwant\n %.300s", d.Hostname, got, want)
				}
				var n int64
				if err := b.tenantDB(d.Hostname).QueryRowContext(ctx, `select count(*) from orders`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				total += n
			}
			var viewTotal int64
			if err := b.store.DB().QueryRowContext(ctx, `select sum(orders) from extract_orders_daily`).Scan(&viewTotal); err != nil || viewTotal != total {
				t.Errorf("sum(orders) over the view = %d, %v; the tenants hold %d", viewTotal, err, total)
			}
			// A second run reuses the tokens and replaces the snapshots.
			if _, err := ex.Run(ctx, dailyQuery(), b.accounts, "manual"); err != nil {
				t.Fatal(err)
			}
			if ex.Mints() != len(groups) {
				t.Errorf("the second run minted again: %d mints", ex.Mints())
			}
			if err := b.store.DB().QueryRowContext(ctx, `select sum(orders) from extract_orders_daily`).Scan(&viewTotal); err != nil || viewTotal != total {
				t.Errorf("after the second run sum(orders) = %d, %v; want %d", viewTotal, err, total)
			}
			b.noTokenLeaked()
		})
	}
}

// dailyRows reads (day, orders, revenue) rows as text, the numbers
// formatted by Go, so that two SQLite versions' own number formatting
// does not count.
func dailyRows(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out strings.Builder
	for rows.Next() {
		var day string
		var orders int64
		var revenue float64
		if err := rows.Scan(&day, &orders, &revenue); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s|%d|%v;", day, orders, revenue)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// noTokenLeaked looks for any minted JWT in the logs and the mirror.
func (b *bed) noTokenLeaked() {
	b.t.Helper()
	if strings.Contains(b.logs.String(), jwtPrefix) {
		b.t.Error("a token is in the logs")
	}
	if b.mirror == "" {
		return
	}
	for _, f := range []string{b.mirror, b.mirror + "-wal"} {
		data, err := os.ReadFile(f)
		if err == nil && bytes.Contains(data, []byte(jwtPrefix)) {
			b.t.Errorf("a token is in %s", f)
		}
	}
}

// stallProxy forwards to sqld but holds every request for the stalled
// hostnames until the client gives up.
func stallProxy(t *testing.T, target string, stalled ...string) string {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range stalled {
			if r.Host == h {
				// Read the body, so the server notices the client leaving.
				_, _ = io.Copy(io.Discard, r.Body)
				select {
				case <-r.Context().Done():
				case <-time.After(30 * time.Second):
				}
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestExtractFailuresStayAlone breaks one tenant per way a database can
// fail and checks that each fails alone with its class, keeps its last
// snapshot, and that the others complete.
func TestExtractFailuresStayAlone(t *testing.T) {
	b := newBed(t, "file")
	ctx := context.Background()
	q := extract.Query{Name: "orders", SQL: "select id, created_at, total from orders", Accounts: []string{"acme"}, Group: "*", Database: "*",
		Timeout: time.Second, MaxRows: 350}
	if sum, err := b.extractor(b.tenants.SQLD, 4).Run(ctx, q, b.accounts, "manual"); err != nil || sum.Failed != 0 {
		t.Fatalf("first run: %+v, %v; logs: %s", sum, err, b.logs)
	}
	dbs := b.sim.Databases(b.sim.Orgs()[0])
	deleted, dropped, stalled, big := dbs[0], dbs[1], dbs[2], dbs[3]
	if err := b.tenants.DeleteNamespace(ctx, tursotest.Namespace(deleted.Hostname)); err != nil {
		t.Fatal(err)
	}
	if err := b.tenants.Exec(ctx, tursotest.Namespace(dropped.Hostname), "DROP TABLE orders"); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for i := range 400 {
		rows = append(rows, fmt.Sprintf("(%d, '2026-02-01 00:00:00', 1)", 100000+i))
	}
	if err := b.tenants.Exec(ctx, tursotest.Namespace(big.Hostname), "INSERT INTO orders VALUES "+strings.Join(rows, ",")); err != nil {
		t.Fatal(err)
	}
	proxy := stallProxy(t, b.tenants.SQLD, stalled.Hostname)
	sum, err := b.extractor(proxy, 4).Run(ctx, q, b.accounts, "manual")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{deleted.DbID: extract.ClassNetwork, dropped.DbID: extract.ClassSQL, stalled.DbID: extract.ClassTimeout, big.DbID: extract.ClassTooManyRows}
	total := len(dbs) + len(b.sim.Databases(b.sim.Orgs()[1]))
	if sum.Failed != len(want) || sum.OK != total-len(want) {
		t.Errorf("summary %+v; want %d failed, %d ok", sum, len(want), total-len(want))
	}
	st, err := b.store.DB().QueryContext(ctx, `select database_id, status, coalesce(error_class, ''), coalesce(error, ''), last_success_at,
	        (select count(*) from extract_results r where r.query = s.query and r.database_id = s.database_id)
	    from extract_status s where query = 'orders'`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for st.Next() {
		var name, status, class, msg, last string
		var kept int
		if err := st.Scan(&name, &status, &class, &msg, &last, &kept); err != nil {
			t.Fatal(err)
		}
		if wc, ok := want[name]; ok {
			if status != "failed" || class != wc {
				t.Errorf("%s: %s/%s (%s); want failed/%s", name, status, class, msg, wc)
			}
			if kept == 0 || last == "" {
				t.Errorf("%s: its last snapshot (%d rows, last success %q) was not kept", name, kept, last)
			}
		} else if status != "ok" {
			t.Errorf("%s: %s/%s %s; want ok", name, status, class, msg)
		}
	}
	b.noTokenLeaked()
}

// TestExtractMintFailuresFailTheirOrgOnly makes the API refuse tokens for
// one org (403, then 429) and checks that only its databases fail.
func TestExtractMintFailuresFailTheirOrgOnly(t *testing.T) {
	b := newBed(t, "file")
	ctx := context.Background()
	orgs := b.sim.Orgs()
	for _, c := range []struct {
		status int
		class  string
	}{{403, extract.ClassAuth}, {429, extract.ClassNetwork}} {
		b.sim.ClearFaults()
		b.sim.Inject(turso.RouteGroupToken, orgs[1], tursotest.Fault{Status: c.status})
		sum, err := b.extractor(b.tenants.SQLD, 4).Run(ctx, dailyQuery(), b.accounts, "manual")
		if err != nil {
			t.Fatal(err)
		}
		bad, good := len(b.sim.Databases(orgs[1])), len(b.sim.Databases(orgs[0]))
		if sum.Failed != bad || sum.OK != good || sum.Failures[c.class] != bad {
			t.Errorf("HTTP %d: summary %+v; want %d failed (%s), %d ok", c.status, sum, bad, c.class, good)
		}
		// A refused group is asked once per run, not once per database.
		groups := map[string]bool{}
		for _, d := range b.sim.Databases(orgs[1]) {
			groups[d.Group] = true
		}
		asked := 0
		for _, r := range b.sim.Requests() {
			if r.Route == turso.RouteGroupToken && r.Org == orgs[1] && r.Status == c.status {
				asked++
			}
		}
		if asked != len(groups) {
			t.Errorf("HTTP %d: %d mint requests for org %s's %d groups", c.status, asked, orgs[1], len(groups))
		}
		b.sim.ResetLog()
	}
}

// TestReadOnlyTokenRefusesWrites forces a write past the config's check:
// the wrapper refuses it, and the minted token itself cannot write.
func TestReadOnlyTokenRefusesWrites(t *testing.T) {
	b := newBed(t, "file")
	ctx := context.Background()
	q := dailyQuery()
	q.SQL = "delete from orders"
	sum, err := b.extractor(b.tenants.SQLD, 2).Run(ctx, q, b.accounts, "manual")
	if err != nil || sum.OK != 0 || sum.Failures[extract.ClassSQL] != sum.Failed || sum.Failed == 0 {
		t.Errorf("a DELETE ran: %+v, %v", sum, err)
	}
	org := b.sim.Orgs()[0]
	d := b.sim.Databases(org)[0]
	tok, err := b.client.MintGroupToken(ctx, org, d.Group, time.Hour, true)
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := libsql.NewConnector("http://"+d.Hostname, libsql.WithProxy(b.tenants.SQLD), libsql.WithAuthToken(tok.Reveal()))
	db := sql.OpenDB(conn)
	defer db.Close()
	var before int
	if err := db.QueryRowContext(ctx, "select count(*) from orders").Scan(&before); err != nil {
		t.Fatalf("the read-only token cannot read: %v", err)
	}
	if _, err := db.ExecContext(ctx, "delete from orders"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("the read-only token wrote, or failed otherwise: %v", err)
	}
	var after int
	if err := b.tenantDB(d.Hostname).QueryRowContext(ctx, "select count(*) from orders").Scan(&after); err != nil || after != before || before == 0 {
		t.Errorf("orders %d before, %d after (%v)", before, after, err)
	}
}

// TestDeletedDatabaseIsSkippedAndKept deletes a database at the source:
// once the sync tombstones it, the next run skips it, says so in its
// status, keeps its last snapshot and mints no token for it.
func TestDeletedDatabaseIsSkippedAndKept(t *testing.T) {
	b := newBed(t, "file")
	ctx := context.Background()
	ex := b.extractor(b.tenants.SQLD, 4)
	if sum, err := ex.Run(ctx, dailyQuery(), b.accounts, "manual"); err != nil || sum.Failed != 0 {
		t.Fatalf("first run: %+v, %v", sum, err)
	}
	org := b.sim.Orgs()[0]
	gone := b.sim.Databases(org)[0]
	b.sim.DeleteDatabase(org, gone.Name)
	b.sync()
	sum, err := ex.Run(ctx, dailyQuery(), b.accounts, "manual")
	if err != nil || sum.Failed != 0 || sum.Skipped != 1 {
		t.Fatalf("second run: %+v, %v; want the deleted database skipped", sum, err)
	}
	var status, msg string
	var kept int
	if err := b.store.DB().QueryRowContext(ctx, `select status, error, (select count(*) from extract_results r where r.database_id = s.database_id)
	    from extract_status s where database_id = ?`, gone.DbID).Scan(&status, &msg, &kept); err != nil {
		t.Fatal(err)
	}
	if status != "skipped" || !strings.Contains(msg, "deleted") || kept == 0 {
		t.Errorf("deleted database: status %s (%s), %d rows kept; want skipped, deleted, its snapshot", status, msg, kept)
	}
	var runs int
	if err := b.store.DB().QueryRowContext(ctx, `select count(*) from extract_status where run_id = (select max(id) from extract_runs) and status = 'ok'`).Scan(&runs); err != nil || runs != sum.OK {
		t.Errorf("%d ok statuses in the last run, summary says %d (%v)", runs, sum.OK, err)
	}
}

// TestRefusedGroupTokenFallsBackPerDatabase makes the API refuse group
// tokens for one org (404): its databases get tokens of their own and are
// read all the same.
func TestRefusedGroupTokenFallsBackPerDatabase(t *testing.T) {
	b := newBed(t, "file")
	org := b.sim.Orgs()[1]
	b.sim.Inject(turso.RouteGroupToken, org, tursotest.Fault{Status: 404})
	sum, err := b.extractor(b.tenants.SQLD, 4).Run(context.Background(), dailyQuery(), b.accounts, "manual")
	total := len(b.sim.Databases(b.sim.Orgs()[0])) + len(b.sim.Databases(org))
	if err != nil || sum.OK != total || sum.Failed != 0 {
		t.Fatalf("summary %+v, %v; want %d ok; logs: %s", sum, err, total, b.logs)
	}
	perDB := 0
	for _, r := range b.sim.Requests() {
		if r.Route == turso.RouteDatabaseToken && r.Status == 200 {
			perDB++
		}
	}
	if perDB != len(b.sim.Databases(org)) {
		t.Errorf("%d database tokens minted; want one per database of %s, %d", perDB, org, len(b.sim.Databases(org)))
	}
}

// TestBlockedReadsAreSkipped blocks reads of one org at the source: once
// synced, its databases are skipped with the reason and nothing is minted
// for them.
func TestBlockedReadsAreSkipped(t *testing.T) {
	b := newBed(t, "file")
	org := b.sim.Orgs()[0]
	b.sim.UpdateOrg(org, func(o *tursotest.Organization) { o.BlockedReads = true })
	b.sync()
	sum, err := b.extractor(b.tenants.SQLD, 4).Run(context.Background(), dailyQuery(), b.accounts, "manual")
	blocked, open := len(b.sim.Databases(org)), len(b.sim.Databases(b.sim.Orgs()[1]))
	if err != nil || sum.Skipped != blocked || sum.OK != open || sum.Failed != 0 {
		t.Fatalf("summary %+v, %v; want %d skipped, %d ok", sum, err, blocked, open)
	}
	var n int
	if err := b.store.DB().QueryRow(`select count(*) from extract_status where organization_id = ? and status = 'skipped' and error like 'reads are blocked%'`, org).Scan(&n); err != nil || n != blocked {
		t.Errorf("%d skipped statuses say reads are blocked (%v); want %d", n, err, blocked)
	}
	for _, r := range b.sim.Requests() {
		if r.Route == turso.RouteGroupToken && r.Org == org {
			t.Errorf("a token was minted for the blocked org %s", org)
			break
		}
	}
}

// Databases that fail on the network one after another, none of their
// org answering (a wrong extract.database_url), stop the org after the
// breaker's count: the rest fail at once saying extract.database_url may
// be wrong, one ERROR line per org says so, and progress lines count the
// databases done and failed by class.
func TestWrongDatabaseURLStopsEachOrg(t *testing.T) {
	b := newBed(t, "file")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://user:s3cret@" + ln.Addr().String()
	ln.Close()
	ex := extract.New(b.store.Extracts(), extract.Options{Concurrency: 1, TokenTTL: time.Hour, DatabaseURL: dead, OrgBreaker: 2, ProgressEvery: time.Nanosecond,
		Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	sum, err := ex.Run(context.Background(), dailyQuery(), b.accounts, "manual")
	if err != nil {
		t.Fatal(err)
	}
	orgs := b.sim.Orgs()
	total := len(b.sim.Databases(orgs[0])) + len(b.sim.Databases(orgs[1]))
	if sum.Failed != total || sum.Failures[extract.ClassNetwork] != total {
		var m string
		b.store.DB().QueryRow(`SELECT error FROM extract_status LIMIT 1`).Scan(&m)
		t.Fatalf("summary %+v, want all %d failed on the network: %s", sum, total, m)
	}
	var tried, stopped int
	rows, err := b.store.DB().Query(`SELECT error FROM extract_status WHERE query = 'orders_daily'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(msg, "not tried:") {
			stopped++
			if !strings.Contains(msg, "extract.database_url (http://127.0.0.1:") || strings.Contains(msg, "s3cret") {
				t.Errorf("a stopped database says %q", msg)
			}
		} else {
			tried++
		}
	}
	if tried != 4 || stopped != total-4 {
		t.Errorf("%d databases tried, %d stopped; want 2 tried per org, the rest stopped", tried, stopped)
	}
	logs := b.logs.String()
	if n := strings.Count(logs, `"msg":"extraction gave up an org`); n != 2 {
		t.Errorf("%d give-up lines, want one per org:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"msg":"extraction progress"`) || !strings.Contains(logs, fmt.Sprintf(`"done":%d,"databases":%d`, total, total)) ||
		!strings.Contains(logs, fmt.Sprintf(`"failed_by_class":{"network":%d}`, total)) || strings.Contains(logs, "s3cret") {
		t.Errorf("no progress line counting every database by class:\n%s", logs)
	}
}
