package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// headless browser: the summary counts the failing accounts, which lead
// the attention list; its failing and guarded scopes are listed with the
// command that releases the guarded one; the charts have their 24 bars;
// the account's own page lists every scope; no token is on either page.
// TURSYNC_SCREENSHOT=DIR saves both pages as PNG (docs/deploy.md's
// pictures).
func TestStatusPageInABrowser(t *testing.T) {
	ctx := browser(t)
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 2, Members: 4, Invites: 2, Databases: 40, Groups: 1,
		APITokens: 1, AuditEvents: 5}, Token: cmdToken})
	_, cfg, cfgPath := newDaemonConfig(t)
	cfg.api, cfg.schedule, cfg.accounts = apiURL, "@every 2s", []string{"acme", "beta"}
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

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#summary`))); err != nil {
		t.Fatalf("browser: load the status page: %v", err)
	}
	attr := func(sel, name string) string {
		t.Helper()
		r, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
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
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			t.Fatalf("browser: count %s: %v", sel, err)
		}
		return n
	}
	// Both accounts read the same simulated orgs with the same token.
	if failing := text(chromedp.Text(chromedp.CSS(`#summary [data-count="failing"] b`))); failing != "2" {
		t.Errorf("the summary counts %s failing accounts, want 2", failing)
	}
	if h := attr(`#attention tr:nth-child(2)`, "data-account") + ":" + attr(`#attention tr:nth-child(2)`, "data-health"); h != "acme:failing" {
		t.Errorf("the attention list starts with %s, want acme:failing", h)
	}
	if got := attr(`#problem-scopes tr[data-account="acme"][data-org="org2"][data-resource="members"]`, "data-status"); got != "failed" {
		t.Errorf("org2 members shows %q, want failed", got)
	}
	if got := attr(`#problem-scopes tr[data-account="acme"][data-org="org1"][data-resource="databases"]`, "data-status"); got != "guarded" {
		t.Errorf("org1 databases shows %q, want guarded", got)
	}
	if count(`#problem-scopes tr[data-resource="account_users"]`) != 0 {
		t.Error("a complete scope is listed among the problems")
	}
	if release := text(chromedp.Text(chromedp.CSS(`#guarded tr[data-account="acme"][data-org="org1"] .release`))); release != "tursync sync --config CONFIG --force-deletes --account acme --org org1" {
		t.Errorf("release command %q", release)
	}
	if n := count(`svg#chart-passes rect.bar`); n != 24 {
		t.Errorf("the passes chart has %d bars, want 24", n)
	}
	if n := count(`svg#chart-passes rect.bar:not([data-value="0"])`); n == 0 {
		t.Error("the passes chart shows no pass in the last 24 hours")
	}
	html := text(chromedp.OuterHTML(chromedp.CSS(`html`)))
	if !strings.Contains(html, "[server]") || !strings.Contains(html, "Last runs") {
		t.Errorf("the page lacks the failing scope's error or the runs:\n%s", html)
	}
	shot := func(name string) {
		if dir := os.Getenv("TURSYNC_SCREENSHOT"); dir != "" {
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("browser: screenshot: %v", err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	shot("status-page.png")

	// The account's own page, through its link.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#attention tr[data-account="acme"] a`)), chromedp.WaitVisible(chromedp.CSS(`#account`))); err != nil {
		t.Fatalf("browser: open acme's page: %v", err)
	}
	if got := attr(`table.scopes tr[data-org=""][data-resource="account_users"]`, "data-status"); got != "complete" {
		t.Errorf("the account's account_users scope shows %q, want complete", got)
	}
	if got := attr(`table.scopes tr[data-org="org2"][data-resource="members"]`, "data-status"); got != "failed" {
		t.Errorf("org2 members on acme's page shows %q, want failed", got)
	}
	if n := count(`svg#chart-requests rect.bar`); n != 24 {
		t.Errorf("acme's requests chart has %d bars, want 24", n)
	}
	account := text(chromedp.OuterHTML(chromedp.CSS(`html`)))
	shot("account-page.png")
	if strings.Contains(html, cmdToken) || strings.Contains(account, cmdToken) {
		t.Fatal("the status page shows the token")
	}
}
