package statuspage_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/daemon"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/statuspage"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
)

var now = time.Date(2026, 12, 7, 12, 30, 0, 0, time.UTC)

// seedRuns writes finished passes into sync_runs as passes do (inserted
// running, updated when they end): one per account per step over the
// hours before now, each taking secs, changing rows and making requests.
func seedRuns(t testing.TB, st *storage.Store, accounts []string, hours int, every time.Duration, secs float64, rows, requests int) {
	t.Helper()
	tx, err := st.DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	begin, err := tx.Prepare(`INSERT INTO sync_runs (account_id, trigger, started_at, status) VALUES (?, 'schedule', ?, 'running')`)
	if err != nil {
		t.Fatal(err)
	}
	finish, err := tx.Prepare(`UPDATE sync_runs SET finished_at = ?, status = 'complete', rows_updated = ?, api_requests = ? WHERE id = ?`)
	if err != nil {
		t.Fatal(err)
	}
	start := now.Add(-time.Duration(hours) * time.Hour)
	for at := start; at.Before(now); at = at.Add(every) {
		for _, a := range accounts {
			end := at.Add(time.Duration(secs * float64(time.Second)))
			res, err := begin.Exec(a, at.Format(time.RFC3339))
			if err != nil {
				t.Fatal(err)
			}
			id, _ := res.LastInsertId()
			if _, err := finish.Exec(end.Format(time.RFC3339), rows, requests, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func get(t testing.TB, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func f(v float64) *float64 { return &v }
func b(v bool) *bool       { return &v }

// fleet is a fleet whose first accounts are in every health, then n
// healthy ones.
func fleet(n int) daemon.Status {
	pass := &daemon.PassStatus{RunID: 1, Status: "complete"}
	scope := func(res, status string, age float64) daemon.ScopeStatus {
		return daemon.ScopeStatus{Resource: res, LastStatus: status, AgeSeconds: f(age)}
	}
	acct := func(id string, up *bool, scopes ...daemon.ScopeStatus) daemon.AccountStatus {
		return daemon.AccountStatus{ID: id, Schedule: "@every 15m", IntervalSeconds: 900, Up: up, LastPass: pass,
			Orgs: []daemon.OrgStatus{{Org: "org1", Resources: scopes}}}
	}
	evil := daemon.ScopeStatus{Resource: "members", LastStatus: "failed", ErrorClass: "server", Error: `<script>alert(1)</script>`, AgeSeconds: f(60)}
	st := daemon.Status{GeneratedAt: now, Accounts: []daemon.AccountStatus{
		acct("a-paused", b(true), scope("members", "complete", 99999)),
		acct("b-stale", b(true), scope("members", "complete", 3*900+1)),
		acct("c-guarded", b(true), daemon.ScopeStatus{Resource: "databases", LastStatus: "guarded", DeletesHeld: 30, AgeSeconds: f(60)}),
		acct("d-failing", b(true), evil, scope("databases", "complete", 60)),
		acct("e-down", b(false), scope("members", "complete", 60)),
	}}
	st.Accounts[0].Paused, st.Accounts[0].PausedBy = true, "user:ops"
	st.Extracts = []daemon.ExtractStatus{{Query: "fine", LastRun: &daemon.ExtractRunStatus{Status: "ok", OK: 3}},
		{Query: "broken", LastRun: &daemon.ExtractRunStatus{Status: "partial", OK: 1, Failed: 2}}}
	st.Webhooks = []daemon.WebhookStatus{{Endpoint: "quick"}, {Endpoint: "slow", Behind: 40, OldestAgeSeconds: f(3600),
		LastAttempt: &daemon.WebhookAttemptStatus{Status: "delivered"}}}
	st.Exports = []daemon.ExportStatus{{Export: "lake"}, {Export: "wh", Error: "export wh (network): connection refused"}}
	for i := range n {
		st.Accounts = append(st.Accounts, acct(fmt.Sprintf("z%04d", i), b(true), scope("members", "complete", 60), scope("databases", "complete", 60)))
	}
	return st
}

func server(t testing.TB, st daemon.Status, store *storage.Store) *httptest.Server {
	srv := httptest.NewServer(statuspage.Handler(statuspage.Source{Status: func(context.Context) (daemon.Status, error) { return st, nil },
		Mirror: store, Now: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	return srv
}

var (
	countRe = regexp.MustCompile(`data-count="([a-z-]+)"[^>]*><b>(\d+)</b>`)
	rowRe   = regexp.MustCompile(`<tr data-account="([^"]+)" data-health="([^"]+)">`)
	barRe   = regexp.MustCompile(`class="bar"[^>]*data-value="([0-9.]+)"`)
)

// section is the HTML of the table with id, up to its end.
func section(page, id string) string {
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	return page[i : i+strings.Index(page[i:], "</table>")]
}

// The fleet page: counts by health, only the accounts and scopes that
// need attention (failing first), every account paged, charts of the
// last 24 hours from sync_runs; what the API said is escaped.
func TestFleetPage(t *testing.T) {
	store := testmirror.Open(t, storage.Options{}).Store
	seedRuns(t, store, []string{"d-failing", "z0000"}, 30, 30*time.Minute, 12, 5, 7)
	srv := server(t, fleet(120), store)
	code, page := get(t, srv, "/")
	if code != 200 {
		t.Fatalf("GET / = %d\n%s", code, page)
	}
	counts := map[string]int{}
	for _, m := range countRe.FindAllStringSubmatch(page, -1) {
		counts[m[1]], _ = strconv.Atoi(m[2])
	}
	want := map[string]int{"accounts": 125, "up": 120, "down": 1, "failing": 1, "guarded": 1, "stale": 1, "paused": 1}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("summary %s = %d, want %d (%v)", k, counts[k], v, counts)
		}
	}
	var order []string
	for _, m := range rowRe.FindAllStringSubmatch(section(page, "attention"), -1) {
		order = append(order, m[1]+":"+m[2])
	}
	if got := strings.Join(order, " "); got != "e-down:down d-failing:failing c-guarded:guarded b-stale:stale a-paused:paused" {
		t.Errorf("needs attention, in order: %s", got)
	}
	var tasks []string
	for _, m := range regexp.MustCompile(`data-kind="([a-z]+)" data-name="([a-z]+)" data-health="([a-z]+)"`).FindAllStringSubmatch(section(page, "problem-tasks"), -1) {
		tasks = append(tasks, m[1]+":"+m[2]+":"+m[3])
	}
	if got := strings.Join(tasks, " "); got != "extraction:broken:failing export:wh:failing webhook:slow:stale" {
		t.Errorf("the tasks that need attention: %s", got)
	}
	problems := section(page, "problem-scopes")
	if !strings.Contains(problems, `data-account="d-failing" data-org="org1" data-resource="members" data-status="failed"`) ||
		!strings.Contains(problems, `data-account="b-stale" data-org="org1" data-resource="members" data-status="complete" data-stale="true"`) ||
		strings.Contains(problems, `data-account="z0000"`) {
		t.Errorf("the problem scopes:\n%s", problems)
	}
	if strings.Contains(page, `<script>alert(1)</script>`) || !strings.Contains(page, "&lt;script&gt;") {
		t.Error("the page does not escape an error's text")
	}
	if n := len(rowRe.FindAllString(section(page, "accounts"), -1)); n != statuspage.PageSize {
		t.Errorf("the first page of accounts has %d rows, want %d", n, statuspage.PageSize)
	}
	if !strings.Contains(page, `href="?page=2"`) {
		t.Error("no link to the next page of accounts")
	}
	_, last := get(t, srv, "/?page=3")
	if n := len(rowRe.FindAllString(section(last, "accounts"), -1)); n != 125-2*statuspage.PageSize || !strings.Contains(last, "Page 3 of 3") {
		t.Errorf("the last page of accounts has %d rows", n)
	}
	// 24 hourly bars from 13:00 yesterday to the current hour (12:00, of
	// which the pass at 12:00 has run): two accounts, 47 passes each, 7
	// requests and 5 rows each, 12 s at most.
	sums := map[string]float64{}
	for _, id := range []string{"chart-requests", "chart-rows", "chart-passes", "chart-duration"} {
		i := strings.Index(page, `id="`+id+`"`)
		svg := page[i : i+strings.Index(page[i:], "</svg>")]
		bars := barRe.FindAllStringSubmatch(svg, -1)
		if len(bars) != 24 {
			t.Fatalf("%s has %d bars", id, len(bars))
		}
		for _, m := range bars {
			v, _ := strconv.ParseFloat(m[1], 64)
			if id == "chart-duration" {
				sums[id] = max(sums[id], v)
			} else {
				sums[id] += v
			}
		}
	}
	if sums["chart-passes"] != 94 || sums["chart-requests"] != 94*7 || sums["chart-rows"] != 94*5 || math.Abs(sums["chart-duration"]-12) > 0.01 {
		t.Errorf("the charts sum to %v", sums)
	}
}

// An account's page: its scopes, stale ones marked, its runs and charts;
// an unknown account is a 404.
func TestAccountPage(t *testing.T) {
	store := testmirror.Open(t, storage.Options{}).Store
	seedRuns(t, store, []string{"d-failing", "z0000"}, 2, time.Hour, 3, 1, 4)
	srv := server(t, fleet(3), store)
	code, page := get(t, srv, "/accounts/d-failing")
	if code != 200 {
		t.Fatalf("GET /accounts/d-failing = %d\n%s", code, page)
	}
	if !strings.Contains(page, `<tr data-org="org1" data-resource="members" data-status="failed">`) ||
		!strings.Contains(page, `<tr data-org="org1" data-resource="databases" data-status="complete">`) {
		t.Errorf("the account's scopes are missing:\n%s", section(page, "scopes"))
	}
	if n := strings.Count(section(page, "runs"), "<tr data-run="); n != 2 {
		t.Errorf("the account page lists %d runs, want its 2", n)
	}
	i := strings.Index(page, `id="chart-requests"`)
	svg := page[i : i+strings.Index(page[i:], "</svg>")]
	total := 0.0
	for _, m := range barRe.FindAllStringSubmatch(svg, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	if total != 8 {
		t.Errorf("the account's requests chart sums to %v, want 8", total)
	}
	if _, stale := get(t, srv, "/accounts/b-stale"); !strings.Contains(stale, `data-resource="members" data-status="complete" data-stale="true"`) {
		t.Error("a stale scope is not marked on its account's page")
	}
	if code, _ := get(t, srv, "/accounts/nobody"); code != 404 {
		t.Errorf("an unknown account: HTTP %d, want 404", code)
	}
	if code, _ := get(t, srv, "/nope"); code != 404 {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

// BenchmarkFleetPage renders the fleet page and an account's page for
// 1,000 accounts of 34 scopes each (3 orgs of 11 resources and the
// account's own), /status built by a real scheduler from a mirror that
// holds their scopes and a day of passes every 15 minutes (96,000
// runs). docs/PERFORMANCE.md, "The status page", gives its figures; a
// page over 200 KB fails it (CI runs it).
func BenchmarkFleetPage(bm *testing.B) {
	const accounts = 1000
	store := testmirror.OpenFile(bm, storage.Options{}).Store
	ids := make([]string, accounts)
	for i := range ids {
		ids[i] = fmt.Sprintf("acct%04d", i)
	}
	seedRuns(bm, store, ids, 24, 15*time.Minute, 2, 3, 40)
	seedScopes(bm, store)
	sched := daemon.NewScheduler(tsync.MirrorOf(store), store, tsync.Options{Now: func() time.Time { return now }}, nil)
	var jobs []daemon.Job
	for _, id := range ids {
		jobs = append(jobs, daemon.Job{ID: id, Schedule: "@every 15m", Account: func() (tsync.Account, error) { return tsync.Account{}, nil }})
	}
	if err := sched.SetJobs(jobs); err != nil {
		bm.Fatal(err)
	}
	srv := httptest.NewServer(statuspage.Handler(statuspage.Source{Status: sched.Status, Mirror: store, Now: func() time.Time { return now }}))
	bm.Cleanup(srv.Close)
	for _, c := range []struct{ name, path string }{{"fleet", "/"}, {"account", "/accounts/acct0500"}} {
		bm.Run(c.name, func(bm *testing.B) {
			var size int
			for bm.Loop() {
				code, page := get(bm, srv, c.path)
				if code != 200 {
					bm.Fatalf("GET %s = %d: %s", c.path, code, page)
				}
				size = len(page)
			}
			bm.ReportMetric(float64(size), "bytes/page")
			// The size, unlike the time, does not depend on the machine.
			if size > 200_000 {
				bm.Errorf("GET %s is %d bytes at %d accounts; the goal is under 200 KB", c.path, size, accounts)
			}
		})
	}
}

// seedScopes records, for every run of the last hour, its account's 34
// scopes (the scopes of older passes are what ScopeHealth skips over).
func seedScopes(t testing.TB, st *storage.Store) {
	t.Helper()
	_, err := st.DB().Exec(`WITH orgs(o) AS (VALUES ('org1'), ('org2'), ('org3')),
		res(r) AS (VALUES ('organization'), ('members'), ('invites'), ('databases'), ('groups'), ('api_tokens'), ('subscriptions'),
		              ('plans'), ('invoices'), ('audit_logs'), ('usage'))
		INSERT INTO sync_scopes (run_id, account_id, organization_id, resource, status, started_at, finished_at)
		SELECT r.id, r.account_id, o, res.r, 'complete', r.started_at, r.finished_at FROM sync_runs r, orgs, res
		WHERE r.started_at >= ?
		UNION ALL
		SELECT r.id, r.account_id, '', 'account_users', 'complete', r.started_at, r.finished_at FROM sync_runs r WHERE r.started_at >= ?`,
		now.Add(-time.Hour).Format(time.RFC3339), now.Add(-time.Hour).Format(time.RFC3339))
	if err != nil {
		t.Fatal(err)
	}
}
