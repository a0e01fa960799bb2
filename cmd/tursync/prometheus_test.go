package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tursync/tursync/internal/testbin"
	"github.com/tursync/tursync/internal/testport"
	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/turso/tursotest"
)

// promQuery runs an instant query against Prometheus's HTTP API and
// returns the samples' values by their series labels.
func promQuery(base, q string) ([]float64, error) {
	code, body := httpGet(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if code != 200 {
		return nil, fmt.Errorf("query %s: %d %s", q, code, body)
	}
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, err
	}
	var out []float64
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// promScalar polls until q yields one sample for which ok holds.
func promScalar(t *testing.T, base, what, q string, ok func(float64) bool) float64 {
	t.Helper()
	var got float64
	testwait.UntilSays(t, what, func() (bool, string) {
		vs, err := promQuery(base, q)
		if err != nil || len(vs) != 1 {
			return false, fmt.Sprintf("%s: %v %v", q, vs, err)
		}
		got = vs[0]
		return ok(got), fmt.Sprintf("%s = %v", q, got)
	})
	return got
}

// startSimulator runs `tursync simulate` on addr and waits until it answers.
func startSimulator(t *testing.T, addr string, extra ...string) *proc {
	t.Helper()
	p := startTursync(t, nil, append([]string{"simulate", "--listen", addr, "--seed", "11", "--token", cmdToken}, extra...)...)
	testwait.UntilSays(t, "the simulator to answer", func() (bool, string) {
		code, body := httpGet("http://" + addr + "/v1/locations")
		return code == 401, body // up, and refusing a request without the token
	})
	return p
}

// TestPrometheusScrapesTheDaemon runs `tursync simulate`, `tursync run`
// against it and a real Prometheus scraping the daemon every second, then
// restarts the simulator with one org's members failing.
func TestPrometheusScrapesTheDaemon(t *testing.T) {
	t.Parallel() // mostly waits on its daemons: it runs beside the others
	prom := testbin.Find(t, "prometheus")
	simAddr := testport.Addr(t)
	apiURL := "http://" + simAddr
	sim := startSimulator(t, simAddr)
	dir := t.TempDir()
	cfg := daemonConfig{mirror: "file:" + filepath.Join(dir, "m.db"), api: apiURL, listen: testport.Addr(t), schedule: "@every 2s",
		shutdownTimeout: "30s", accounts: []string{"acme"}}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg.write(t, cfgPath)
	daemon := startTursync(t, []string{"ACME_TOKEN=" + cmdToken}, "run", "--config", cfgPath)

	rules, err := filepath.Abs("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: tursync
    static_configs: [{targets: [%q]}]
`, rules, cfg.listen)), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := testport.Addr(t)
	pc := exec.Command(prom, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	pc.Stdout, pc.Stderr = logFile, logFile
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = pc.Process.Signal(syscall.SIGTERM)
		_ = pc.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", b)
		}
	})
	base := "http://" + promAddr

	promScalar(t, base, "Prometheus to scrape the daemon", `up{job="tursync"}`, func(v float64) bool { return v == 1 })
	series := float64(tursotest.Small.Orgs*orgResources() + 1) // and the account's account_users
	promScalar(t, base, "a freshness series per org and resource", `count(tursync_scope_last_success_timestamp_seconds)`,
		func(v float64) bool { return v == series })
	rulesFile, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	ruleCount := strings.Count(string(rulesFile), "- alert: ")
	testwait.UntilSays(t, "the alert rules to load", func() (bool, string) {
		_, body := httpGet(base + "/api/v1/rules")
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct{ Health string } `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		_ = json.Unmarshal([]byte(body), &r)
		ok := len(r.Data.Groups) == 1 && len(r.Data.Groups[0].Rules) == ruleCount
		for _, g := range r.Data.Groups {
			for _, rl := range g.Rules {
				ok = ok && rl.Health == "ok"
			}
		}
		return ok, body
	})

	// The simulator restarts (same seed, same data) with org2's members
	// answering 500: that scope fails at every pass while the other orgs
	// stay fresh.
	sim.signal(syscall.SIGTERM)
	if code := sim.wait(); code != 0 {
		t.Fatalf("simulator exit %d", code)
	}
	startSimulator(t, simAddr, "--fault", "members:org2:500")
	failed := `sum(tursync_scope_syncs_total{org="org2",resource="members",status="failed"})`
	first := promScalar(t, base, "org2 members to fail", failed, func(v float64) bool { return v >= 1 })
	promScalar(t, base, "org2 members failures to keep rising", failed, func(v float64) bool { return v > first })
	promScalar(t, base, "the other orgs to stay fresh",
		`max(time() - tursync_scope_last_success_timestamp_seconds{org!="org2"})`, func(v float64) bool { return v < 10 })
	promScalar(t, base, "the other orgs' members to keep completing",
		`sum(tursync_scope_syncs_total{org!="org2",resource="members",status="complete"})`, func(v float64) bool { return v > 2*first })
	promScalar(t, base, "the scope-failing alert to go pending for org2 members (and only for it)",
		`count(ALERTS{alertname="TursyncScopeFailing",org="org2",resource="members"}) and count(ALERTS{alertname="TursyncScopeFailing"}) == 1`,
		func(v float64) bool { return v == 1 })
	promScalar(t, base, "org2 members freshness to age",
		`time() - tursync_scope_last_success_timestamp_seconds{org="org2",resource="members"}`, func(v float64) bool { return v > 4 })

	daemon.signal(syscall.SIGTERM)
	if code := daemon.wait(); code != 0 {
		t.Errorf("daemon exit code %d after SIGTERM", code)
	}
}
