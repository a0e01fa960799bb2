package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/turso/tursotest"
)

// browser starts headless Chromium (Debian's chromium, which .ci/run
// installs) and returns a chromedp context on it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TURSYNC_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("chromium is required (TURSYNC_REQUIRE_CHROMIUM=1): %v", err)
		}
		t.Skip("chromium not installed; .ci/run installs it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// TestStatusPageInABrowser loads the daemon's status page in a real
// headless browser: a failing scope shows as failing, a guarded scope shows
// the command that releases it, and no token is on the page.
func TestStatusPageInABrowser(t *testing.T) {
	ctx := browser(t)
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 2, Members: 4, Invites: 2, Databases: 40, Groups: 1,
		APITokens: 1, AuditEvents: 5}, Token: cmdToken})
	_, cfg, cfgPath := newDaemonConfig(t)
	cfg.api, cfg.schedule = apiURL, "@every 2s"
	cfg.write(t, cfgPath)
	startTursync(t, []string{"ACME_TOKEN=" + cmdToken}, "run", "--config", cfgPath)
	base := "http://" + cfg.listen
	testwait.UntilSays(t, "a complete pass", func() (bool, string) {
		_, m := httpGet(base + "/metrics")
		return strings.Contains(m, `tursync_sync_runs_total{account="acme",status="complete"}`), ""
	})
	for _, d := range sim.Databases("org1")[:30] {
		sim.DeleteDatabase("org1", d.Name)
	}
	sim.Inject("/v1/organizations/{organizationSlug}/members", "org2", tursotest.Fault{Status: 500})
	testwait.UntilSays(t, "org1 databases guarded and org2 members failed in /status", func() (bool, string) {
		_, body := httpGet(base + "/status")
		return strings.Contains(body, `"deletes_held": 30`) && strings.Contains(body, `"last_status": "failed"`), body
	})

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#guarded`))); err != nil {
		t.Fatalf("browser: load the status page: %v", err)
	}
	attr := func(sel string) string {
		t.Helper()
		r, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), "data-status"))
		if err != nil {
			t.Fatalf("browser: %s: %v", sel, err)
		}
		return r.Value
	}
	text := func(a chromedp.Action[string]) string {
		t.Helper()
		s, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("browser: %v", err)
		}
		return s
	}
	failing := attr(`table.scopes tr[data-org="org2"][data-resource="members"]`)
	guardedStatus := attr(`table.scopes tr[data-org="org1"][data-resource="databases"]`)
	accountUser := attr(`table.scopes tr[data-org=""][data-resource="account_users"]`)
	release := text(chromedp.Text(chromedp.CSS(`#guarded tr[data-org="org1"] .release`)))
	html := text(chromedp.OuterHTML(chromedp.CSS(`html`)))
	if failing != "failed" {
		t.Errorf("org2 members shows %q, want failed", failing)
	}
	if accountUser != "complete" {
		t.Errorf("the account's account_users scope shows %q, want complete", accountUser)
	}
	if guardedStatus != "guarded" {
		t.Errorf("org1 databases shows %q, want guarded", guardedStatus)
	}
	if release != "tursync sync --config CONFIG --force-deletes --account acme --org org1" {
		t.Errorf("release command %q", release)
	}
	if !strings.Contains(html, "[server]") || !strings.Contains(html, "Last runs") {
		t.Errorf("the page lacks the failing scope's error or the runs:\n%s", html)
	}
	if strings.Contains(html, cmdToken) {
		t.Fatal("the status page shows the token")
	}
}
