package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/turso/tursotest"
)

// TestOneWriterPerAccountOnSqld runs two `tursync sync` processes at once
// on one sqld mirror: the one that finds the account leased exits 1 naming
// the holder and until when, and with --lease-wait it waits its turn and
// both succeed. migrate needs no account token there.
func TestOneWriterPerAccountOnSqld(t *testing.T) {
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
