package main

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testlong"
	"github.com/tursync/tursync/turso/tursotest"
)

// TestSIGKILLAtTenPoints kills `tursync sync` with SIGKILL at ten points of
// a pass that has an org's changes to write: before the write, at moments
// into it, and after it. Each time the mirror must pass integrity_check,
// hold the org entirely at its previous state or entirely at its new one,
// and the next pass must converge. go test runs it on a 20,000-database
// org; .ci/run again on the large one (TURSYNC_SIGTERM_SCALE=large).
func TestSIGKILLAtTenPoints(t *testing.T) {
	testlong.Skip(t)
	size := sigtermSize(t)
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 9, Size: size, Token: cmdToken})
	dir := t.TempDir()
	path := filepath.Join(dir, "m.db")
	cfgPath := filepath.Join(dir, "config.yaml")
	daemonConfig{mirror: "file:" + path, api: apiURL, listen: "127.0.0.1:0", schedule: "@every 1h",
		shutdownTimeout: "30s", accounts: []string{"acme"}}.write(t, cfgPath)
	env := []string{"ACME_TOKEN=" + cmdToken}
	if code := startTursync(t, env, "sync", "--config", cfgPath).wait(); code != 0 {
		t.Fatalf("baseline sync exited %d", code)
	}
	org := sim.Orgs()[0]
	type point struct {
		name  string
		after string        // log message to wait for ("" = process start)
		delay time.Duration // then wait this long
	}
	points := []point{{"during the fetch", "", 50 * time.Millisecond}}
	for _, d := range []time.Duration{0, 5, 20, 50, 100, 200, 400, 800} {
		points = append(points, point{fmt.Sprintf("%dms into the write", d), "writing org", d * time.Millisecond})
	}
	points = append(points, point{"after the pass", "account pass", 0})
	outcomes := map[string]int{}
	for i, pt := range points {
		before := readState(t, path)
		// 5% of the databases go, 1% are new, a member leaves.
		dbs := sim.Databases(org)
		sim.SetDatabases(org, len(dbs)*95/100)
		for j := range len(dbs) / 100 {
			sim.CreateDatabase(org, fmt.Sprintf("kill-%d-%d", i, j), "")
		}
		sim.RemoveMember(org, sim.Members(org)[1].Username)
		want := orgState{databases: len(sim.Databases(org)), members: len(sim.Members(org))}

		p := startTursync(t, env, "sync", "--config", cfgPath)
		if pt.after != "" {
			p.waitLog(pt.after)
		}
		time.Sleep(pt.delay) // a kill point, not a wait for a result
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		p.wait()

		after := readState(t, path) // runs integrity_check
		switch {
		case after == before:
			outcomes["previous"]++
		case after.databases == want.databases && after.members == want.members && after.events > before.events:
			outcomes["new"]++
		default:
			t.Fatalf("kill %s: org half-written: before %+v, after %+v, new state %+v", pt.name, before, after, want)
		}
		// The killed process's lease expires after lease_ttl (3s here).
		if code := startTursync(t, env, "sync", "--config", cfgPath, "--lease-wait", "30s").wait(); code != 0 {
			t.Fatalf("kill %s: the next sync exited %d", pt.name, code)
		}
		if got := readState(t, path); got.databases != want.databases || got.members != want.members {
			t.Fatalf("kill %s: after the next pass %+v, want %+v", pt.name, got, want)
		}
	}
	t.Logf("10 kills: %d left the previous state, %d the new one", outcomes["previous"], outcomes["new"])
}
