package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
