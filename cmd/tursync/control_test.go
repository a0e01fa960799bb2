package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/turso/tursotest"
)

// http.control needs a web config that authenticates every caller.
func TestControlNeedsAuthentication(t *testing.T) {
	tlsOnly := filepath.Join(t.TempDir(), "web.yml")
	withUsers, _ := writeWebConfig(t, "ops", "pass-word-1")
	b, _ := os.ReadFile(withUsers)
	os.WriteFile(tlsOnly, []byte(strings.Split(string(b), "basic_auth_users:")[0]), 0o600)
	for _, c := range []struct {
		name, http, want string
	}{
		{"no web config", `{control: true}`, "the control API runs passes and pauses accounts: set http.web_config_file"},
		{"TLS without client certificates or users", `{control: true, web_config_file: "` + tlsOnly + `"}`, "http.web_config_file must authenticate its callers"},
		{"basic auth", `{control: true, web_config_file: "` + withUsers + `"}`, ""},
	} {
		y := "mirror: {url: \"file:x.db\"}\nhttp: " + c.http + "\naccounts:\n  - id: a\n    token_env: T\n"
		_, err := ParseConfig(strings.NewReader(y), true, env(map[string]string{"T": "tok"}))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// The control API runs a pass now (202 with its run id, 409 while one
// runs), pauses and resumes an account (a pause survives a restart and
// makes the schedule skip the account), reads a run, and logs every call
// with its caller; `tursync accounts` does the same through the mirror.
func TestControlAPI(t *testing.T) {
	webCfg, client := writeWebConfig(t, "ops", "pass-word-1")
	sim, cfg, cfgPath := newDaemonConfig(t)
	b, _ := os.ReadFile(cfgPath)
	y := strings.Replace(string(b), "http: {listen: \""+cfg.listen+"\"}", "http: {listen: \""+cfg.listen+"\", web_config_file: \""+webCfg+"\", control: true}", 1)
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"ACME_TOKEN=" + cmdToken}
	p := startTursync(t, env, "run", "--config", cfgPath)
	p.waitLog("account pass")
	call := func(method, path string, auth bool) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+cfg.listen+path, nil)
		if auth {
			req.SetBasicAuth("ops", "pass-word-1")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil && resp.StatusCode != 401 {
			t.Fatalf("%s %s: HTTP %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, body
	}
	status := func() map[string]any {
		t.Helper()
		_, body := call("GET", "/status", true)
		return body["accounts"].([]any)[0].(map[string]any)
	}

	if code, _ := call("POST", "/api/v1/accounts/acme/sync", false); code != 401 {
		t.Errorf("without a password: HTTP %d, want 401", code)
	}
	if code, body := call("POST", "/api/v1/accounts/nobody/sync", true); code != 404 {
		t.Errorf("an unknown account: HTTP %d %v, want 404", code, body)
	}
	// A pass that takes a while: the second call finds it running.
	sim.Inject("/v1/organizations/{organizationSlug}/databases", "", tursotest.Fault{Delay: 2 * time.Second, Times: 1})
	code, body := call("POST", "/api/v1/accounts/acme/sync", true)
	runID, _ := body["run_id"].(float64)
	if code != 202 || runID == 0 {
		t.Fatalf("sync now: HTTP %d %v, want 202 with a run id", code, body)
	}
	if code, body := call("POST", "/api/v1/accounts/acme/sync", true); code != 409 {
		t.Errorf("sync while a pass runs: HTTP %d %v, want 409", code, body)
	}
	run := "/api/v1/runs/" + jsonText(int64(runID))
	testwait.UntilSays(t, "the asked-for pass to complete", func() (bool, string) {
		code, body := call("GET", run, true)
		return code == 200 && body["status"] == "complete" && body["trigger"] == "api", jsonText(body)
	})
	if code, _ := call("GET", "/api/v1/runs/999999", true); code != 404 {
		t.Errorf("an unknown run: HTTP %d, want 404", code)
	}
	if !strings.Contains(p.log(), `"msg":"control call","method":"POST","path":"/api/v1/accounts/acme/sync","caller":"user:ops","status":202`) {
		t.Error("the sync call is not logged with its caller")
	}

	// Paused: the API refuses a pass, /status and the page say so, and a
	// restart keeps it: the schedule's first pass skips the account.
	if code, body := call("POST", "/api/v1/accounts/acme/pause", true); code != 200 || body["paused"] != true || body["paused_by"] != "user:ops" {
		t.Fatalf("pause: HTTP %d %v", code, body)
	}
	if code, body := call("POST", "/api/v1/accounts/acme/sync", true); code != 409 || !strings.Contains(jsonText(body), "paused") {
		t.Errorf("sync a paused account: HTTP %d %v, want 409", code, body)
	}
	p.signal(syscall.SIGTERM)
	p.wait()
	runsBefore := queryString(t, strings.TrimPrefix(cfg.mirror, "file:"), `SELECT CAST(count(*) AS TEXT) FROM sync_runs`)
	p = startTursync(t, env, "run", "--config", cfgPath)
	p.waitLog("account pass skipped: paused")
	if a := status(); a["paused"] != true || a["paused_by"] != "user:ops" {
		t.Errorf("/status after a restart: %v", a)
	}
	testwait.UntilSays(t, "tursync_account_paused to say so", func() (bool, string) {
		req, _ := http.NewRequest("GET", "https://"+cfg.listen+"/metrics", nil)
		req.SetBasicAuth("ops", "pass-word-1")
		resp, err := client.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `tursync_account_paused{account="acme"} 1`), grepLines(string(b), "tursync_account_paused")
	})
	req, _ := http.NewRequest("GET", "https://"+cfg.listen+"/", nil)
	req.SetBasicAuth("ops", "pass-word-1")
	if resp, err := client.Do(req); err != nil {
		t.Error(err)
	} else {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(page), `data-health="paused">paused</span> by user:ops`) {
			t.Errorf("the status page does not show acme paused")
		}
	}
	if runs := queryString(t, strings.TrimPrefix(cfg.mirror, "file:"), `SELECT CAST(count(*) AS TEXT) FROM sync_runs`); runs != runsBefore {
		t.Errorf("a paused account was synced after the restart: %s runs, %s before", runs, runsBefore)
	}

	// tursync accounts, through the mirror: resume, then a pass the
	// daemon claims and runs.
	cliEnv := map[string]string{"ACME_TOKEN": cmdToken}
	if r := runMain(t, cliEnv, "accounts", "sync", "acme", "--config", cfgPath); r.code != 1 || !strings.Contains(r.stderr, "is paused") {
		t.Errorf("accounts sync of a paused account: exit %d %s", r.code, r.stderr)
	}
	if r := runMain(t, cliEnv, "accounts", "resume", "acme", "--config", cfgPath); r.code != 0 {
		t.Fatalf("accounts resume: exit %d %s", r.code, r.stderr)
	}
	if a := status(); a["paused"] != false {
		t.Errorf("/status after accounts resume: %v", a)
	}
	r := runMain(t, cliEnv, "accounts", "sync", "acme", "--config", cfgPath, "--wait", "60s")
	if r.code != 0 || !strings.Contains(r.stdout, "run ") {
		t.Fatalf("accounts sync: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	id := strings.TrimSuffix(strings.Fields(r.stdout)[3], "\n")
	if trig := queryString(t, strings.TrimPrefix(cfg.mirror, "file:"), `SELECT trigger FROM sync_runs WHERE id = `+id); trig != "request" {
		t.Errorf("the requested run %s has trigger %q, want request", id, trig)
	}
	if r := runMain(t, cliEnv, "accounts", "pause", "nobody", "--config", cfgPath); r.code != 2 {
		t.Errorf("accounts pause of an unknown account: exit %d %s", r.code, r.stderr)
	}
	if r := runMain(t, cliEnv, "accounts", "pause", "acme", "--config", cfgPath); r.code != 0 {
		t.Errorf("accounts pause: exit %d %s", r.code, r.stderr)
	}
	if a := status(); a["paused"] != true || !strings.HasPrefix(a["paused_by"].(string), "os:") {
		t.Errorf("/status after accounts pause: %v", a)
	}
	p.signal(syscall.SIGTERM)
	p.wait()
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
