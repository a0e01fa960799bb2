package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/daemon"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tursync/tursync/metrics"
	"github.com/tursync/tursync/turso"
)

var _ turso.Observer = (*metrics.Metrics)(nil)

func TestScopeAndPassMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "v1.2.3", "go1.26")
	at := time.Unix(1_800_000_000, 0)
	m.ScopeDone(metrics.Scope{Account: "acme", Org: "prod", Resource: "databases", Status: "complete", Duration: time.Second, Finished: at, Created: 3, Updated: 2})
	m.ScopeDone(metrics.Scope{Account: "acme", Org: "prod", Resource: "members", Status: "guarded", Finished: at.Add(time.Minute), Deleted: 0})
	m.ScopeDone(metrics.Scope{Account: "acme", Org: "prod", Resource: "invites", Status: "complete", Finished: at})
	m.ScopeDone(metrics.Scope{Account: "acme", Org: "prod", Resource: "invites", Status: "unavailable", Finished: at.Add(time.Hour)})
	m.ScopeDone(metrics.Scope{Account: "acme", Org: "prod", Resource: "groups", Status: "failed", Finished: at})
	m.PassDone(metrics.Pass{Account: "acme", Status: "partial", Up: true, TokenExpiry: 1_900_000_000})
	m.PassDone(metrics.Pass{Account: "beta", Status: "failed", Up: false})
	m.Request("/v1/organizations/{organizationSlug}/members", 429, 20*time.Millisecond)
	m.Request("/v1/organizations/{organizationSlug}/members", 200, 10*time.Millisecond)
	m.Retry("rate_limited")
	m.RateLimited(1500 * time.Millisecond)

	expect := `
# HELP tursync_rows_written_total Mirror rows written by resource and op (created, updated, deleted); a resource's other feeds as resource/table, the users scopes write as users, as tursync_mirror_rows counts them.
# TYPE tursync_rows_written_total counter
tursync_rows_written_total{op="created",resource="databases"} 3
tursync_rows_written_total{op="updated",resource="databases"} 2
# HELP tursync_scope_last_success_timestamp_seconds Unix time a scope last completed (guarded counts as complete). Absent while a scope is unavailable by plan or role.
# TYPE tursync_scope_last_success_timestamp_seconds gauge
tursync_scope_last_success_timestamp_seconds{account="acme",org="prod",resource="databases"} 1.8e+09
tursync_scope_last_success_timestamp_seconds{account="acme",org="prod",resource="members"} 1.80000006e+09
# HELP tursync_delete_guard_trips_total Scopes whose deletes the delete guard held back.
# TYPE tursync_delete_guard_trips_total counter
tursync_delete_guard_trips_total{account="acme",org="prod",resource="members"} 1
# HELP tursync_account_up 1 when the account's last pass reached its orgs, 0 when it failed as a whole (revoked token, org list, mirror).
# TYPE tursync_account_up gauge
tursync_account_up{account="acme"} 1
tursync_account_up{account="beta"} 0
# HELP tursync_token_expiry_timestamp_seconds Unix time the account's Platform API token expires, from /v1/auth/validate; absent for tokens that never expire.
# TYPE tursync_token_expiry_timestamp_seconds gauge
tursync_token_expiry_timestamp_seconds{account="acme"} 1.9e+09
# HELP tursync_api_requests_total Platform API requests by route template and HTTP status (0: no answer).
# TYPE tursync_api_requests_total counter
tursync_api_requests_total{code="200",endpoint="/v1/organizations/{organizationSlug}/members"} 1
tursync_api_requests_total{code="429",endpoint="/v1/organizations/{organizationSlug}/members"} 1
# HELP tursync_api_retries_total Platform API retries by reason (rate_limited, server, network).
# TYPE tursync_api_retries_total counter
tursync_api_retries_total{reason="rate_limited"} 1
# HELP tursync_api_rate_limited_seconds_total Seconds spent waiting on rate limits: the token bucket and Retry-After.
# TYPE tursync_api_rate_limited_seconds_total counter
tursync_api_rate_limited_seconds_total 1.5
# HELP tursync_build_info Always 1; the labels say which build runs.
# TYPE tursync_build_info gauge
tursync_build_info{goversion="go1.26",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect), "tursync_rows_written_total", "tursync_scope_last_success_timestamp_seconds",
		"tursync_delete_guard_trips_total", "tursync_account_up", "tursync_token_expiry_timestamp_seconds", "tursync_api_requests_total",
		"tursync_api_retries_total", "tursync_api_rate_limited_seconds_total", "tursync_build_info"); err != nil {
		t.Error(err)
	}
	syncs := `
# HELP tursync_scope_syncs_total Scope syncs by status (complete, failed, unavailable, guarded, interrupted).
# TYPE tursync_scope_syncs_total counter
tursync_scope_syncs_total{account="acme",org="prod",resource="databases",status="complete"} 1
tursync_scope_syncs_total{account="acme",org="prod",resource="groups",status="failed"} 1
tursync_scope_syncs_total{account="acme",org="prod",resource="invites",status="complete"} 1
tursync_scope_syncs_total{account="acme",org="prod",resource="invites",status="unavailable"} 1
tursync_scope_syncs_total{account="acme",org="prod",resource="members",status="guarded"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(syncs), "tursync_scope_syncs_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "tursync_scope_duration_seconds"); n != 4 {
		t.Errorf("scope_duration_seconds has %d series, want one per resource (4)", n)
	}

	// A scope that never succeeded is visible: up 0, failures counted,
	// an attempt time, no success time.
	m.ScopeDone(metrics.Scope{Account: "acme", Org: "prod", Resource: "groups", Status: "failed", Finished: at.Add(time.Minute)})
	health := `
# HELP tursync_scope_up 1 when the scope's last pass completed (or was guarded), 0 when it failed, whether or not it ever succeeded. Absent while unavailable by plan or role.
# TYPE tursync_scope_up gauge
tursync_scope_up{account="acme",org="prod",resource="databases"} 1
tursync_scope_up{account="acme",org="prod",resource="groups"} 0
tursync_scope_up{account="acme",org="prod",resource="members"} 1
# HELP tursync_scope_consecutive_failures Passes in a row that failed the scope (0 after a complete one); 1 at start-up when the mirror's last pass of it failed.
# TYPE tursync_scope_consecutive_failures gauge
tursync_scope_consecutive_failures{account="acme",org="prod",resource="databases"} 0
tursync_scope_consecutive_failures{account="acme",org="prod",resource="groups"} 2
tursync_scope_consecutive_failures{account="acme",org="prod",resource="members"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(health), "tursync_scope_up", "tursync_scope_consecutive_failures"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "tursync_scope_last_attempt_timestamp_seconds"); n != 3 {
		t.Errorf("scope_last_attempt_timestamp_seconds has %d series, want 3 (the unavailable scope has none)", n)
	}

	// A resource taken out of the config leaves every series.
	m.RetainScopes("acme", func(_, resource string) bool { return resource != "databases" })
	text := gatherText(t, reg)
	for _, name := range []string{"tursync_scope_up", "tursync_scope_last_success_timestamp_seconds", "tursync_scope_last_attempt_timestamp_seconds",
		"tursync_scope_syncs_total"} {
		if strings.Contains(text, name+`{account="acme",org="prod",resource="databases"}`) {
			t.Errorf("%s still has the removed resource's series", name)
		}
	}

	m.AccountRemoved("acme")
	if n := testutil.CollectAndCount(reg, "tursync_scope_last_success_timestamp_seconds", "tursync_account_up", "tursync_scope_up"); n != 1 {
		t.Errorf("after removing acme %d freshness and up series remain, want only beta's up", n)
	}
	// Counters too: nothing of a removed account stays.
	for _, line := range strings.Split(gatherText(t, reg), "\n") {
		if strings.Contains(line, `account="acme"`) {
			t.Errorf("a series of the removed account stays: %s", line)
		}
	}
}

func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	srv := httptest.NewServer(metrics.Handler(reg, metrics.Probes{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestNilMetricsRecordNothing(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	m.ScopeDone(metrics.Scope{Account: "a"})
	m.PassDone(metrics.Pass{Account: "a"})
	m.Request("/x", 200, time.Second)
	m.AccountRemoved("a")
}

func TestHandlers(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics.New(reg, "dev", "go")
	ready := errors.New("mirror migration 00002 is not applied")
	srv := httptest.NewServer(metrics.Handler(reg, metrics.Probes{
		Alive: func() error { return nil },
		Ready: func(context.Context) error { return ready },
		Status: func(context.Context) (any, error) {
			return daemon.Status{Accounts: []daemon.AccountStatus{{ID: "acme", Schedule: "@every 15m"}},
				Guarded: []daemon.GuardedScope{{Account: "acme", Org: "prod", Resource: "databases", DeletesHeld: 40}}}, nil
		},
	}))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "00002 is not applied") {
		t.Errorf("/readyz = %d %q, want 503 naming the migration", code, body)
	}
	code, body := get("/status")
	var st daemon.Status
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("/status = %d %q: %v", code, body, err)
	}
	if len(st.Guarded) != 1 || st.Guarded[0].DeletesHeld != 40 || st.Accounts[0].ID != "acme" {
		t.Errorf("/status decoded to %+v", st)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `tursync_build_info{goversion="go",version="dev"} 1`) {
		t.Errorf("/metrics = %d, build_info missing", code)
	}
}

// A policy's gauges: violations summed over its accounts, up 0 while one
// fails, an unknown count keeping the last one, and a policy taken out
// of the config dropped.
func TestPolicyGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test", "go")
	m.PolicyEvaluated("two-owners", "critical", "acme", true, 3)
	m.PolicyEvaluated("two-owners", "critical", "beta", true, 2)
	m.PolicyEvaluated("two-owners", "critical", "beta", false, -1) // the mirror refused: beta's 2 stand
	const want = `
# HELP tursync_policy_up 1 when the policy's last evaluation ran for every account it applies to, 0 when one failed.
# TYPE tursync_policy_up gauge
tursync_policy_up{policy="two-owners"} 0
# HELP tursync_policy_violations Open violations of a policy over its accounts, after each one's last evaluation.
# TYPE tursync_policy_violations gauge
tursync_policy_violations{policy="two-owners",severity="critical"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tursync_policy_violations", "tursync_policy_up"); err != nil {
		t.Error(err)
	}
	m.PoliciesRetained(func(string) bool { return false })
	if n := testutil.CollectAndCount(reg, "tursync_policy_violations", "tursync_policy_up"); n != 0 {
		t.Errorf("%d series left of a policy taken out of the config", n)
	}
}
