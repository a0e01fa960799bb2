package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tursync/tursync/daemon"
	"github.com/tursync/tursync/internal/testport"
	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/turso/tursotest"
)

const policiesYAML = `policies:
  - name: two-owners
    severity: critical
    builtin: owner_count
    params: {min: 2}
  - name: stale
    severity: info
    builtin: stale_invites
    params: {days: 1}
`

// A sync evaluates the policies after the pass; `tursync policy check`
// evaluates them again, lists the open violations and exits 1 while a
// critical one is open; a policy taken out of the config leaves its rows
// until `prune --policy NAME --yes`.
func TestPolicyCheckCommand(t *testing.T) {
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 2, Members: 4, Invites: 2, Databases: 3, Groups: 1, APITokens: 1, AuditEvents: 2}, Token: cmdToken})
	dir := t.TempDir()
	mirror := filepath.Join(dir, "m.db")
	cfg := writeConfig(t, "file:"+mirror, url)
	withPolicies := mustRead(t, cfg) + policiesYAML
	if err := os.WriteFile(cfg, []byte(withPolicies), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ACME_TOKEN": cmdToken}
	if r := runMain(t, env, "sync", "--config", cfg); r.code != 0 || !strings.Contains(r.stderr, `"msg":"policy evaluated"`) {
		t.Fatalf("sync: %d\n%s", r.code, r.stderr)
	}
	orgs := len(sim.Orgs())
	if n := countRows(t, mirror, `SELECT count(*) FROM policy_violations WHERE policy = 'two-owners' AND resolved_at IS NULL AND severity = 'critical'`); n != orgs {
		t.Fatalf("after the sync: %d open two-owners violations, want one per org (%d)", n, orgs)
	}

	var rep policyCheckReport
	r := runMain(t, env, "policy", "check", "--config", cfg, "--output", "json")
	oneDocument(t, "policy check", r.stdout, &rep)
	if r.code != 1 || rep.OK || len(rep.Policies) != 2 || len(rep.Violations) != orgs+2*orgs {
		t.Errorf("policy check: exit %d, %+v; want 1, not ok, %d violations", r.code, rep, 3*orgs)
	}
	r = runMain(t, env, "policy", "check", "--config", cfg, "--policy", "stale")
	if r.code != 0 || !strings.Contains(r.stdout, "stale") || strings.Contains(r.stdout, "two-owners") {
		t.Errorf("policy check --policy stale (info only): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A second owner in each org resolves the critical violations.
	for _, org := range sim.Orgs() {
		sim.SetMemberRole(org, sim.Members(org)[1].Username, "owner")
	}
	if r := runMain(t, env, "sync", "--config", cfg); r.code != 0 {
		t.Fatalf("sync: %d %s", r.code, r.stderr)
	}
	if r := runMain(t, env, "policy", "check", "--config", cfg); r.code != 0 {
		t.Errorf("policy check once resolved: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := countRows(t, mirror, `SELECT count(*) FROM policy_violations WHERE policy = 'two-owners' AND resolved_at IS NOT NULL`); n != orgs {
		t.Errorf("%d resolved two-owners violations, want %d kept as resolved", n, orgs)
	}

	for _, c := range []struct{ args []string }{
		{[]string{"policy", "check", "--config", cfg, "--policy", "nope"}},
		{[]string{"policy", "frobnicate", "--config", cfg}},
		{[]string{"prune", "--config", cfg, "--policy", "stale"}}, // still configured
	} {
		if r := runMain(t, env, c.args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", c.args, r.code, r.stderr)
		}
	}
	if r := runMain(t, env, "policy", "-h"); r.code != 0 || !strings.Contains(r.stderr, "Usage: tursync policy check") {
		t.Errorf("policy -h: exit %d\n%s", r.code, r.stderr)
	}
	// Taken out of the config: listed, then removed with --yes.
	if err := os.WriteFile(cfg, []byte(strings.Replace(withPolicies, policiesYAML, "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runMain(t, env, "prune", "--config", cfg, "--policy", "two-owners"); r.code != 2 || !strings.Contains(r.stdout, "policy_violations") {
		t.Errorf("prune --policy listing: exit %d\n%s", r.code, r.stdout)
	}
	if r := runMain(t, env, "prune", "--config", cfg, "--policy", "two-owners", "--yes"); r.code != 0 {
		t.Errorf("prune --policy --yes: exit %d\n%s", r.code, r.stderr)
	}
	if n := countRows(t, mirror, `SELECT count(*) FROM policy_violations WHERE policy = 'two-owners'`) + countRows(t, mirror, `SELECT count(*) FROM policy_status WHERE policy = 'two-owners'`); n != 0 {
		t.Errorf("%d rows of the pruned policy left", n)
	}
	if n := countRows(t, mirror, `SELECT count(*) FROM policy_violations WHERE policy = 'stale'`); n == 0 {
		t.Errorf("prune --policy two-owners removed the other policy's rows")
	}
}

// A daemon with the built-in pack records violations after its passes,
// resolves them once the simulator's data changes, and shows them in
// /status, on the status page and in the metrics.
func TestDaemonEvaluatesPolicies(t *testing.T) {
	t.Parallel() // mostly waits on its daemon: it runs beside the others
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Small, Token: cmdToken})
	dir := t.TempDir()
	mirror := filepath.Join(dir, "m.db")
	cfg := daemonConfig{mirror: "file:" + mirror, api: apiURL, listen: testport.Addr(t), schedule: "@every 2s", shutdownTimeout: "30s", accounts: []string{"acme"}}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg.write(t, cfgPath)
	pack := policiesYAML + `  - name: residency
    builtin: database_outside_locations
    params: {locations: [nowhere]}
  - name: unprotected-prod
    builtin: unprotected_databases
    params: {name_glob: "db-00000*"}
  - name: tokens
    builtin: old_api_tokens
  - name: outsiders
    builtin: members_outside_domains
    params: {domains: [example.com]}
  - name: quota
    builtin: usage_over_quota
  - name: unused
    builtin: unused_databases
  - name: stale-scopes
    builtin: scope_stale
`
	// A receiver that keeps what it is sent (the webhook tests verify the
	// signatures; this one checks the policy events arrive).
	var mu sync.Mutex
	var bodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	received := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(bodies, "\n")
	}
	hooks := fmt.Sprintf("webhooks:\n  - id: policies\n    url: %q\n    secret_env: HOOK_SECRET\n    events: [policy.*]\n", hook.URL+"/hook")
	if err := os.WriteFile(cfgPath, []byte(mustRead(t, cfgPath)+pack+hooks), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startTursync(t, []string{"ACME_TOKEN=" + cmdToken, "HOOK_SECRET=" + hookSecret}, "run", "--config", cfgPath)
	p.waitLog("account pass")
	orgs := sim.Orgs()
	testwait.UntilSays(t, "two-owners to find one violation per org", func() (bool, string) {
		n := countRows(t, mirror, `SELECT count(*) FROM policy_violations WHERE policy = 'two-owners' AND resolved_at IS NULL`)
		return n == len(orgs), fmt.Sprint(n, " open")
	})
	metric := func() string {
		_, exposition := httpGet("http://" + cfg.listen + "/metrics")
		return grepLines(exposition, "tursync_policy_")
	}
	testwait.UntilSays(t, "the policy metrics", func() (bool, string) {
		m := metric()
		return strings.Contains(m, fmt.Sprintf(`tursync_policy_violations{policy="two-owners",severity="critical"} %d`, len(orgs))) &&
			strings.Contains(m, `tursync_policy_up{policy="residency"} 1`), m
	})
	_, status := httpGet("http://" + cfg.listen + "/status")
	var st daemon.Status
	if err := json.Unmarshal([]byte(status), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Policies) != 9 {
		t.Errorf("/status lists %d policy outcomes, want the 9 configured for acme: %+v", len(st.Policies), st.Policies)
	}
	for _, ps := range st.Policies {
		if ps.Status != "ok" {
			t.Errorf("/status: policy %s %s: %s", ps.Policy, ps.Status, ps.Error)
		}
		if ps.Policy == "two-owners" && (ps.Open != len(orgs) || len(ps.Violations) != len(orgs) || ps.Violations[0].SubjectType != "organization") {
			t.Errorf("/status two-owners: %+v", ps)
		}
	}
	_, page := httpGet("http://" + cfg.listen + "/")
	if !strings.Contains(page, fmt.Sprintf(`data-policy="two-owners" data-account="acme" data-open="%d"`, len(orgs))) {
		t.Errorf("the status page lacks the policy:\n%s", grepLines(page, "polic"))
	}
	// A new endpoint hears what happens after its first delivery run.
	testwait.UntilSays(t, "the endpoint's first delivery run", func() (bool, string) {
		n := countRows(t, mirror, `SELECT count(*) FROM webhook_cursors WHERE endpoint = 'policies#policy'`)
		return n == 1, fmt.Sprint(n, " cursors")
	})
	// A second owner everywhere: the next pass resolves them.
	for _, org := range orgs {
		sim.SetMemberRole(org, sim.Members(org)[1].Username, "owner")
	}
	testwait.UntilSays(t, "the violations to resolve", func() (bool, string) {
		n := countRows(t, mirror, `SELECT count(*) FROM policy_violations WHERE policy = 'two-owners' AND resolved_at IS NOT NULL`)
		return n == len(orgs) && strings.Contains(metric(), `tursync_policy_violations{policy="two-owners",severity="critical"} 0`), fmt.Sprint(n, " resolved\n", metric())
	})
	// The resolutions reach the webhook (the first evaluation, a baseline,
	// sent none).
	testwait.UntilSays(t, "the policy.resolved events", func() (bool, string) {
		got := received()
		return strings.Count(got, `"type":"policy.resolved"`) >= len(orgs) && strings.Contains(got, `"policy":"two-owners"`), got
	})
	if got := received(); strings.Contains(got, `"type":"policy.violated","timestamp"`) && strings.Contains(got, `"subject_type":"organization"`) &&
		strings.Count(got, `"policy":"two-owners"`) > len(orgs) {
		t.Errorf("the baseline's violations were sent as events:\n%s", got)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Errorf("daemon exit %d\n%s", code, p.log())
	}
}
