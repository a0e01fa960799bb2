package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/turso/tursotest"
)

const cmdToken = "cmd-SECRET-token-9876543210"

type run struct {
	code           int
	stdout, stderr string
}

func runMain(t *testing.T, environ map[string]string, args ...string) run {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: env(environ), Now: time.Now}
	code := exitCode(m.Run(context.Background(), args), &errb)
	return run{code, out.String(), errb.String()}
}

func writeConfig(t *testing.T, mirrorURL, apiURL string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	y := "mirror: {url: \"" + mirrorURL + "\"}\napi: {base_url: \"" + apiURL + "\", requests_per_second: 1000, max_retries: 0}\n" +
		"log: {level: debug, format: json}\naccounts:\n  - id: acme\n    token_env: ACME_TOKEN\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSyncCommandExitCodes(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 5, Invites: 2, Databases: 20, Groups: 2, APITokens: 1, AuditEvents: 5}, Token: cmdToken})
	dir := t.TempDir()
	mirror := filepath.Join(dir, "m.db")
	cfg := writeConfig(t, "file:"+mirror, url)

	r := runMain(t, map[string]string{"ACME_TOKEN": cmdToken}, "sync", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "account acme run 1: complete") {
		t.Fatalf("sync: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r2 := runMain(t, map[string]string{"ACME_TOKEN": "wrong-token"}, "sync", "--config", cfg)
	if r2.code != 1 || !strings.Contains(r2.stdout, "auth") {
		t.Errorf("401: exit %d, want 1\n%s", r2.code, r2.stdout)
	}
	r3 := runMain(t, map[string]string{}, "sync", "--config", cfg)
	if r3.code != 2 || !strings.Contains(r3.stderr, "ACME_TOKEN") {
		t.Errorf("missing token: exit %d, want 2 naming the env var\n%s", r3.code, r3.stderr)
	}
	r4 := runMain(t, nil, "sync")
	if r4.code != 2 {
		t.Errorf("no --config: exit %d, want 2", r4.code)
	}
	r5 := runMain(t, map[string]string{"ACME_TOKEN": cmdToken}, "sync", "--config", cfg, "--dry-run")
	if r5.code != 0 || !strings.Contains(r5.stdout, "would create 0") {
		t.Errorf("dry run: exit %d\n%s", r5.code, r5.stdout)
	}
	for _, s := range []string{r.stdout, r.stderr, r2.stdout, r2.stderr, r5.stdout, r5.stderr} {
		if strings.Contains(s, cmdToken) {
			t.Fatalf("token leaked into output")
		}
	}
	b, _ := os.ReadFile(mirror)
	if bytes.Contains(b, []byte(cmdToken)) {
		t.Fatal("token leaked into the mirror")
	}
	if st, _ := os.Stat(mirror); st.Mode().Perm() != 0o600 {
		t.Errorf("mirror mode %v, want 0600", st.Mode().Perm())
	}
}

func TestReadOnlyMirrorFailsClearly(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 5, Databases: 5, Groups: 1}})
	mirror := filepath.Join(t.TempDir(), "m.db")
	cfg := writeConfig(t, "file:"+mirror, url)
	if r := runMain(t, map[string]string{"ACME_TOKEN": "t"}, "migrate", "--config", cfg); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	ro := writeConfig(t, "file:"+mirror+"?mode=ro", url)
	r := runMain(t, map[string]string{"ACME_TOKEN": "t"}, "sync", "--config", ro)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "readonly") {
		t.Errorf("read-only mirror: exit %d, want 1 naming it\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestDemo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	r := runMain(t, nil, "demo", "--db", db)
	if r.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"account demo run 1: complete", "role_assignments", "Access review", "Pending invites", "Databases per group"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	if r := runMain(t, nil, "frobnicate"); r.code != 2 {
		t.Errorf("exit %d, want 2", r.code)
	}
	if r := runMain(t, nil, "version"); r.code != 0 || !strings.Contains(r.stdout, "tursync") {
		t.Errorf("version: %d %s", r.code, r.stdout)
	}
}

func TestCheckReportsAccessPerOrg(t *testing.T) {
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 2, Databases: 2, Groups: 1}})
	sim.Inject("/v1/organizations/{organizationSlug}/audit-logs", "", tursotest.Fault{Status: 402})
	sim.Inject("/v2/organizations/{organizationSlug}/invites", "", tursotest.Fault{Status: 403})
	cfg := writeConfig(t, "file:"+filepath.Join(t.TempDir(), "m.db"), url)
	r := runMain(t, map[string]string{"ACME_TOKEN": "t"}, "check", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"account acme: token ok", "members ok", "invites unavailable (needs admin or owner)", "audit_logs unavailable (plan)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stdout)
		}
	}
}
