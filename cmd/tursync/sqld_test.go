package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/turso/tursotest"
)

// TestOneWriterPerAccountOnSqld runs two `tursync sync` processes at once
// on one sqld mirror: the one that finds the account leased exits 1 naming
// the holder and until when, and with --lease-wait it waits its turn and
// both succeed. migrate needs no account token there.
func TestOneWriterPerAccountOnSqld(t *testing.T) {
	t.Parallel() // mostly waits on its daemons: it runs beside the others
	srv := sqldtest.Start(t, sqldtest.Options{})
	_, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Small, Token: cmdToken, Latency: 30 * time.Millisecond})
	cfgPath := writeConfig(t, srv.URL, apiURL)
	if r := runMain(t, nil, "migrate", "--config", cfgPath); r.code != 0 {
		t.Fatalf("migrate without account tokens: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	env := []string{"ACME_TOKEN=" + cmdToken}
	first := startTursync(t, env, "sync", "--config", cfgPath)
	first.waitLog("writing org")
	second := startTursync(t, env, "sync", "--config", cfgPath)
	code2 := second.wait()
	if code1 := first.wait(); code1 != 0 {
		t.Fatalf("the first sync exited %d", code1)
	}
	out := second.stdout.String()
	if code2 != 1 || !strings.Contains(out, "skipped") || !strings.Contains(out, "is being synced by") || !strings.Contains(out, "lease until") {
		t.Fatalf("the second sync: exit %d, want 1 naming the holder:\n%s", code2, out)
	}
	first = startTursync(t, env, "sync", "--config", cfgPath)
	first.waitLog("writing org")
	second = startTursync(t, env, "sync", "--config", cfgPath, "--lease-wait", "60s")
	if code := second.wait(); code != 0 {
		t.Fatalf("a sync with --lease-wait exited %d:\n%s", code, second.stdout.String())
	}
	if code := first.wait(); code != 0 {
		t.Fatalf("the sync it waited for exited %d", code)
	}
}

// TestDaemonRidesOutAnSqldOutage runs the daemon on an sqld mirror, kills
// sqld, and expects /readyz to turn 503 naming the mirror, the passes meanwhile
// to fail and be counted, and everything to recover by itself once sqld is
// back on the same address.
func TestDaemonRidesOutAnSqldOutage(t *testing.T) {
	srv := sqldtest.Start(t, sqldtest.Options{})
	_, cfg, cfgPath := newDaemonConfig(t)
	cfg.mirror, cfg.schedule = srv.URL, "@every 2s"
	cfg.write(t, cfgPath)
	startTursync(t, []string{"ACME_TOKEN=" + cmdToken}, "run", "--config", cfgPath)
	base := "http://" + cfg.listen
	metric := func(want string) func() (bool, string) {
		return func() (bool, string) {
			_, m := httpGet(base + "/metrics")
			return strings.Contains(m, want), ""
		}
	}
	testwait.UntilSays(t, "a complete pass", metric(`tursync_sync_runs_total{account="acme",status="complete"}`))
	if code, body := httpGet(base + "/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %s with sqld up", code, body)
	}

	srv.Stop()
	testwait.UntilSays(t, "/readyz to turn 503 naming the mirror", func() (bool, string) {
		code, body := httpGet(base + "/readyz")
		return code == 503 && strings.Contains(body, "mirror"), body
	})
	testwait.UntilSays(t, "a failed pass to be counted", metric(`tursync_sync_runs_total{account="acme",status="failed"}`))
	testwait.UntilSays(t, "account_up 0", metric(`tursync_account_up{account="acme"} 0`))

	srv.Restart(t)
	testwait.UntilSays(t, "/readyz to recover", func() (bool, string) {
		code, body := httpGet(base + "/readyz")
		return code == 200, body
	})
	testwait.UntilSays(t, "account_up 1 again", metric(`tursync_account_up{account="acme"} 1`))
}

// TestDaemonsStartingTogetherMigrateOnce: processes that open a fresh server
// mirror at the same moment race to migrate it; every one must succeed.
func TestDaemonsStartingTogetherMigrateOnce(t *testing.T) {
	srv := sqldtest.Start(t, sqldtest.Options{})
	cfgPath := writeConfig(t, srv.URL, "http://127.0.0.1:1")
	var ps []*proc
	for range 4 {
		ps = append(ps, startTursync(t, nil, "migrate", "--config", cfgPath))
	}
	for i, p := range ps {
		if code := p.wait(); code != 0 {
			t.Errorf("migrate %d of 4 started together exited %d:\n%s", i+1, code, p.log())
		}
	}
}

// TestDaemonOnAReadOnlyMirrorIsNotReady: a mirror that answers reads but
// refuses writes (a read-only token) makes /readyz fail naming why, the
// account down and its failed passes counted, so TursyncAccountDown fires.
func TestDaemonOnAReadOnlyMirrorIsNotReady(t *testing.T) {
	srv := sqldtest.Start(t, sqldtest.Options{Auth: true})
	_, cfg, cfgPath := newDaemonConfig(t)
	cfg.mirror, cfg.schedule, cfg.authTokenEnv = srv.URL, "@every 2s", "MIRROR_TOKEN"
	cfg.write(t, cfgPath)
	if r := runMain(t, map[string]string{"MIRROR_TOKEN": srv.Token("rw")}, "migrate", "--config", cfgPath); r.code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	startTursync(t, []string{"ACME_TOKEN=" + cmdToken, "MIRROR_TOKEN=" + srv.Token("ro")}, "run", "--config", cfgPath)
	base := "http://" + cfg.listen
	testwait.UntilSays(t, "/readyz to answer 503 naming the refused write", func() (bool, string) {
		code, body := httpGet(base + "/readyz")
		return code == 503 && strings.Contains(body, "does not take writes") && strings.Contains(body, "read-only"), body
	})
	for _, want := range []string{`tursync_account_up{account="acme"} 0`, `tursync_sync_runs_total{account="acme",status="failed"}`} {
		testwait.UntilSays(t, want, func() (bool, string) {
			_, m := httpGet(base + "/metrics")
			return strings.Contains(m, want), ""
		})
	}
}
