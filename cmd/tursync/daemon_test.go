package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/tursync/tursync/daemon"

	"github.com/tursync/tursync/internal/testlong"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/internal/testport"
	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// TestMain lets the test binary act as the tursync command, so tests can
// run the daemon as a real process and send it real signals.
func TestMain(m *testing.M) {
	if os.Getenv("TURSYNC_BE_MAIN") == "1" {
		if n := os.Getenv("TURSYNC_TEST_FSIZE"); n != "" {
			limitFileSize(n) // a full disk, for TestMirrorFaults
		}
		main()
		return
	}
	os.Exit(m.Run())
}

// orgResources counts the resources a default pass syncs per org: every
// default one but the per-account ones.
func orgResources() int {
	n := 0
	for _, r := range schema.Registry {
		if !r.OptIn && !r.PerAccount {
			n++
		}
	}
	return n
}

// proc is a tursync process started from the test binary.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   stdsync.Mutex
	logs bytes.Buffer
	seen chan string // messages of the JSON log lines, as they arrive
	done chan struct{}
	err  error
	// stdout is the command's output; read it only after wait.
	stdout bytes.Buffer
}

func startTursync(t *testing.T, environ []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, seen: make(chan string, 1<<16), done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(append(os.Environ(), "TURSYNC_BE_MAIN=1"), environ...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = &p.stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			var l struct{ Msg string }
			if json.Unmarshal([]byte(line), &l) == nil {
				select {
				case p.seen <- l.Msg:
				default:
				}
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("tursync %s log:\n%s", args[0], p.log())
		}
	})
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// waitLog waits for a log line with message msg.
func (p *proc) waitLog(msg string) {
	p.t.Helper()
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case m := <-p.seen:
			if m == msg {
				return
			}
		case <-p.done:
			p.t.Fatalf("tursync exited (%v) before logging %q", p.err, msg)
		case <-timeout:
			p.t.Fatalf("no %q log line", msg)
		}
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(5 * time.Minute):
		p.t.Fatal("tursync did not exit")
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

func (p *proc) signal(s syscall.Signal) {
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatal(err)
	}
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// newDaemonConfig serves a small simulated account and writes a daemon
// config for it in a fresh directory: the mirror there, an hourly schedule.
func newDaemonConfig(t *testing.T) (*tursotest.Server, daemonConfig, string) {
	t.Helper()
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Small, Token: cmdToken})
	dir := t.TempDir()
	cfg := daemonConfig{mirror: "file:" + filepath.Join(dir, "m.db"), api: apiURL, listen: testport.Addr(t), schedule: "@every 1h",
		shutdownTimeout: "30s", accounts: []string{"acme"}}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg.write(t, cfgPath)
	return sim, cfg, cfgPath
}

type daemonConfig struct {
	mirror, api, listen string
	schedule            string
	shutdownTimeout     string
	accounts            []string
	maxRetries          int
	tokenFile           string // when set, accounts read their token from it
	busyTimeout         string // mirror.busy_timeout, when set
	authTokenEnv        string // mirror.auth_token_env, when set
}

func (c daemonConfig) write(t *testing.T, path string) {
	t.Helper()
	var b strings.Builder
	busy := ""
	if c.busyTimeout != "" {
		busy = ", busy_timeout: " + c.busyTimeout
	}
	if c.authTokenEnv != "" {
		busy += ", auth_token_env: " + c.authTokenEnv
	}
	fmt.Fprintf(&b, "mirror: {url: %q%s}\napi: {base_url: %q, requests_per_second: 1000, max_retries: %d, timeout: 60s}\n", c.mirror, busy, c.api, c.maxRetries)
	fmt.Fprintf(&b, "http: {listen: %q}\nlog: {level: debug, format: json}\n", c.listen)
	fmt.Fprintf(&b, "sync: {shutdown_timeout: %s, lease_ttl: 5s, min_interval: 1s}\ndefaults: {schedule: %q}\naccounts:\n", c.shutdownTimeout, c.schedule)
	for _, a := range c.accounts {
		if c.tokenFile != "" {
			fmt.Fprintf(&b, "  - id: %s\n    token_file: %q\n", a, c.tokenFile)
			continue
		}
		fmt.Fprintf(&b, "  - id: %s\n    token_env: ACME_TOKEN\n", a)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDaemonServesStatusAndReloadsOnSIGHUP(t *testing.T) {
	_, cfg, cfgPath := newDaemonConfig(t)
	p := startTursync(t, []string{"ACME_TOKEN=" + cmdToken}, "run", "--config", cfgPath)
	base := "http://" + cfg.listen

	status := func() daemon.Status {
		code, body := httpGet(base + "/status")
		var st daemon.Status
		if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
			return daemon.Status{}
		}
		return st
	}
	passed := func(id string) func() (bool, string) {
		return func() (bool, string) {
			for _, a := range status().Accounts {
				if a.ID == id && a.LastPass != nil && a.LastPass.Status == storage.StatusComplete {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", status())
		}
	}
	testwait.UntilSays(t, "acme's first pass", passed("acme"))
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := httpGet(base + path); code != 200 {
			t.Errorf("%s = %d %s", path, code, body)
		}
	}
	st := status()
	if a := st.Accounts[0]; len(a.Orgs) != tursotest.Small.Orgs || a.NextRun == nil || len(a.Orgs[0].Resources) != orgResources() || len(a.Scopes) != 1 {
		t.Errorf("status of acme: %+v", a)
	}
	_, exposition := httpGet(base + "/metrics")
	for _, want := range []string{`tursync_account_up{account="acme"} 1`, `tursync_build_info{`, `go_goroutines `, `process_resident_memory_bytes `,
		`go_sql_open_connections{db_name="mirror"}`, `tursync_scope_last_success_timestamp_seconds{account="acme",org="org1",resource="databases"}`} {
		if !strings.Contains(exposition, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// SIGHUP: a second account is added and synced without a restart.
	cfg.accounts = []string{"acme", "beta"}
	cfg.write(t, cfgPath)
	p.signal(syscall.SIGHUP)
	testwait.UntilSays(t, "beta's first pass after the reload", passed("beta"))

	// A broken file is refused and the running config stays.
	if err := os.WriteFile(cfgPath, []byte("mirror: {url: 42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	testwait.UntilSays(t, "the refused reload to be counted", func() (bool, string) {
		_, m := httpGet(base + "/metrics")
		return strings.Contains(m, `tursync_config_reloads_total{result="error"} 1`), ""
	})
	if n := len(status().Accounts); n != 2 {
		t.Errorf("after a refused reload %d accounts are scheduled, want 2", n)
	}
	// The refusal is on /status and the page, not only in a metric.
	if c := status().Config; c == nil || c.OK || !strings.Contains(c.Error, "yaml: line 1") {
		t.Errorf("/status config after a refused reload: %+v", c)
	}
	if _, page := httpGet(base + "/"); !strings.Contains(page, "Config reload refused") {
		t.Errorf("the status page does not show the refused reload")
	}

	// beta taken out: every series of it goes, counters included.
	if _, m := httpGet(base + "/metrics"); !strings.Contains(m, `tursync_sync_runs_total{account="beta"`) {
		t.Fatalf("beta has no sync_runs_total series to remove")
	}
	cfg.accounts = []string{"acme"}
	cfg.write(t, cfgPath)
	p.signal(syscall.SIGHUP)
	testwait.UntilSays(t, "beta's series to go", func() (bool, string) {
		_, m := httpGet(base + "/metrics")
		for _, line := range strings.Split(m, "\n") {
			if strings.Contains(line, `account="beta"`) {
				return false, line
			}
		}
		return true, ""
	})
	if c := status().Config; c == nil || !c.OK || c.Error != "" {
		t.Errorf("/status config after a good reload: %+v", c)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	_, statusBody := httpGet(base + "/status")
	for what, text := range map[string]string{"log": p.log(), "metrics": exposition, "status": statusBody} {
		if strings.Contains(text, cmdToken) {
			t.Errorf("the token appears in the %s", what)
		}
	}
}

// sigtermSize is the org the SIGTERM test writes: mid-size in `go test`,
// the large simulated org when .ci/run sets TURSYNC_SIGTERM_SCALE=large.
func sigtermSize(t *testing.T) tursotest.Size {
	if os.Getenv("TURSYNC_SIGTERM_SCALE") == "large" {
		return tursotest.Large
	}
	return tursotest.Size{Orgs: 1, Members: 300, Invites: 30, Databases: 20000, Groups: 10, APITokens: 5, AuditEvents: 300}
}

type orgState struct{ databases, members, events int }

// openChecked opens the mirror file read-only after PRAGMA integrity_check.
func openChecked(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+readOnly)
	if err != nil {
		t.Fatal(err)
	}
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		db.Close()
		t.Fatalf("integrity_check = %q (%v)", ok, err)
	}
	return db
}

func readState(t *testing.T, path string) orgState {
	t.Helper()
	db := openChecked(t, path)
	defer db.Close()
	var s orgState
	for q, dst := range map[string]*int{
		`SELECT count(*) FROM databases WHERE deleted_at IS NULL`:                               &s.databases,
		`SELECT count(*) FROM role_assignments WHERE deleted_at IS NULL AND source = 'members'`: &s.members,
		`SELECT count(*) FROM change_events`:                                                    &s.events,
	} {
		if err := db.QueryRow(q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestSIGTERMWhileAnOrgIsWritten sends SIGTERM while the daemon writes an
// org that changed since the last pass, and checks the org is either all
// at its previous state or all at its new one. With a long shutdown
// timeout the org finishes; with a short one its transaction rolls back.
func TestSIGTERMWhileAnOrgIsWritten(t *testing.T) {
	testlong.Skip(t)
	size := sigtermSize(t)
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 5, Size: size, Token: cmdToken})
	for _, c := range []struct {
		name, timeout string
		twice         bool // a second SIGTERM: exit at once
	}{{"finishes", "10m", false}, {"rolls back", "10ms", false}, {"second signal exits at once", "10m", true}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "m.db")
			cfgPath := filepath.Join(dir, "config.yaml")
			cfg := daemonConfig{mirror: "file:" + path, api: apiURL, listen: testport.Addr(t), schedule: "@every 1h",
				shutdownTimeout: c.timeout, accounts: []string{"acme"}}
			cfg.write(t, cfgPath)
			env := []string{"ACME_TOKEN=" + cmdToken}
			if code := startTursync(t, env, "sync", "--config", cfgPath).wait(); code != 0 {
				t.Fatalf("first sync exited %d", code)
			}
			before := readState(t, path)

			// 10% of the databases go, 2% are new, and a member leaves.
			org := sim.Orgs()[0]
			dbs := sim.Databases(org)
			sim.SetDatabases(org, len(dbs)*9/10)
			for i := range len(dbs) / 50 {
				sim.CreateDatabase(org, fmt.Sprintf("sigterm-new-%d", i), "")
			}
			sim.RemoveMember(org, sim.Members(org)[1].Username)
			want := orgState{databases: len(dbs)*9/10 + len(dbs)/50, members: before.members - 1,
				events: before.events + len(dbs)/10 + len(dbs)/50 + 1}

			p := startTursync(t, env, "run", "--config", cfgPath)
			p.waitLog("writing org")
			p.signal(syscall.SIGTERM)
			wantCode := 0
			if c.twice {
				p.waitLog("shutting down")
				wantCode = 1
				if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					// The org finished and the process exited before the
					// second signal could land: a graceful exit, checked
					// below like the others.
					t.Logf("second signal not delivered: %v", err)
					wantCode = 0
				}
			}
			code := p.wait()
			if c.twice && code == 0 && wantCode == 1 && strings.Contains(p.log(), "tursync daemon stopped") &&
				!strings.Contains(p.log(), "second signal") {
				// Same race, seen from the other side: the daemon had
				// finished shutting down when the signal arrived.
				wantCode = 0
			}
			if code != wantCode {
				t.Errorf("exit code after SIGTERM = %d, want %d", code, wantCode)
			}
			after := readState(t, path)
			switch {
			case after.databases == before.databases && after.members == before.members && after.events == before.events:
				t.Logf("org rolled back to its previous state: %+v", after)
			case after.databases == want.databases && after.members == want.members && after.events >= want.events:
				t.Logf("org finished at its new state: %+v", after)
			default:
				t.Fatalf("org half-written: before %+v, after %+v, new state would be %+v", before, after, want)
			}
			if c.timeout == "10m" && !c.twice && after.databases != want.databases {
				t.Errorf("with a 10m shutdown timeout the org in flight should finish")
			}
			// The next pass converges (after the lease of a process that
			// exited at once expires: 3s here).
			if code := startTursync(t, env, "sync", "--config", cfgPath, "--lease-wait", "30s").wait(); code != 0 {
				t.Fatalf("sync after the shutdown exited %d", code)
			}
			if got := readState(t, path); got.databases != want.databases || got.members != want.members {
				t.Errorf("after the next pass: %+v, want %+v", got, want)
			}
		})
	}
}

// TestGuardedScopeIsReleasedWhileTheDaemonRuns: /status lists a scope the
// delete guard holds, and a one-shot `sync --force-deletes` against the same
// mirror releases it while the daemon keeps running.
func TestGuardedScopeIsReleasedWhileTheDaemonRuns(t *testing.T) {
	sim, cfg, cfgPath := newDaemonConfig(t)
	env := []string{"ACME_TOKEN=" + cmdToken}
	if code := startTursync(t, env, "sync", "--config", cfgPath).wait(); code != 0 {
		t.Fatalf("baseline sync exited %d", code)
	}
	members := len(sim.Members("org1"))
	sim.Inject(turso.RouteMembers, "org1", tursotest.Fault{Body: `{"members": []}`})
	p := startTursync(t, env, "run", "--config", cfgPath)
	guarded := func() []daemon.GuardedScope {
		_, body := httpGet("http://" + cfg.listen + "/status")
		var st daemon.Status
		_ = json.Unmarshal([]byte(body), &st)
		return st.Guarded
	}
	testwait.UntilSays(t, "the guarded scope in /status", func() (bool, string) {
		g := guarded()
		return len(g) == 1 && g[0].Org == "org1" && g[0].Resource == "members" && g[0].DeletesHeld == members, fmt.Sprint(g)
	})
	if !strings.Contains(guarded()[0].Release, "--force-deletes --account acme --org org1") {
		t.Errorf("release hint %q", guarded()[0].Release)
	}
	if code := startTursync(t, env, "sync", "--config", cfgPath, "--force-deletes", "--account", "acme", "--org", "org1", "--lease-wait", "30s").wait(); code != 0 {
		t.Fatalf("sync --force-deletes exited %d while the daemon runs", code)
	}
	if g := guarded(); len(g) != 0 {
		t.Errorf("after --force-deletes /status still lists %v", g)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}

// TestRotatedTokenFileNeedsNoRestart: the daemon reads token_file at every
// pass, so a revoked token fails the account and a rotated one heals it.
func TestRotatedTokenFileNeedsNoRestart(t *testing.T) {
	_, cfg, cfgPath := newDaemonConfig(t)
	tokenFile := filepath.Join(filepath.Dir(cfgPath), "acme.token")
	if err := os.WriteFile(tokenFile, []byte("a-revoked-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.schedule, cfg.tokenFile = "@every 1s", tokenFile
	cfg.write(t, cfgPath)
	p := startTursync(t, nil, "run", "--config", cfgPath)
	metricsHas := func(want string) func() (bool, string) {
		return func() (bool, string) {
			_, m := httpGet("http://" + cfg.listen + "/metrics")
			return strings.Contains(m, want), ""
		}
	}
	testwait.UntilSays(t, "the account to be down", metricsHas(`tursync_account_up{account="acme"} 0`))
	if err := os.WriteFile(tokenFile, []byte(cmdToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testwait.UntilSays(t, "the account to come up with the rotated token", metricsHas(`tursync_account_up{account="acme"} 1`))
	testwait.UntilSays(t, "the token's expiry", metricsHas(`tursync_token_expiry_timestamp_seconds{account="acme"}`))
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	if strings.Contains(p.log(), cmdToken) || strings.Contains(p.log(), "a-revoked-token") {
		t.Errorf("a token appears in the daemon's log")
	}
}

func TestPruneCommand(t *testing.T) {
	_, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Small, Token: cmdToken})
	mirror := "file:" + filepath.Join(t.TempDir(), "m.db")
	cfgPath := writeConfig(t, mirror, apiURL)
	environ := map[string]string{"ACME_TOKEN": cmdToken}
	if r := runMain(t, environ, "sync", "--config", cfgPath); r.code != 0 {
		t.Fatalf("sync: %d %s", r.code, r.stderr)
	}
	if r := runMain(t, environ, "prune", "--config", cfgPath, "--account", "acme", "--yes"); r.code != 2 || !strings.Contains(r.stderr, "still in the config") {
		t.Errorf("prune of a configured account: %d %q", r.code, r.stderr)
	}
	// acme leaves the config (another account takes its place).
	y, _ := os.ReadFile(cfgPath)
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(y), "id: acme", "id: other", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runMain(t, environ, "prune", "--config", cfgPath, "--account", "acme")
	if r.code != 2 || !strings.Contains(r.stdout, "databases") || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("prune without --yes: %d %q %q", r.code, r.stdout, r.stderr)
	}
	st := testmirror.OpenURL(t, mirror, storage.Options{})
	if rows, _ := st.AccountRows(context.Background(), "acme"); rows["databases"] == 0 {
		t.Fatalf("prune without --yes removed rows: %v", rows)
	}
	if r := runMain(t, environ, "prune", "--config", cfgPath, "--account", "acme", "--yes"); r.code != 0 {
		t.Fatalf("prune --yes: %d %q", r.code, r.stderr)
	}
	if rows, _ := st.AccountRows(context.Background(), "acme"); len(rows) != 0 {
		t.Errorf("rows left after prune: %v", rows)
	}
}

func TestSimulateFaultFlagErrors(t *testing.T) {
	for arg, want := range map[string]string{
		"nope:org1:500":    `unknown resource "nope"`,
		"members:org1:200": "want an HTTP error status",
		"members:500":      "want RESOURCE:ORG:STATUS",
	} {
		if r := runMain(t, nil, "simulate", "--listen", "127.0.0.1:0", "--fault", arg); r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("--fault %s: exit %d %q, want 2 naming %q", arg, r.code, r.stderr, want)
		}
	}
}

func TestLooseTokenFileIsWarnedAbout(t *testing.T) {
	_, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Small, Token: cmdToken})
	dir := t.TempDir()
	for _, c := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, true}, {0o644, true}} {
		tokenFile := filepath.Join(dir, fmt.Sprintf("token-%o", c.mode))
		if err := os.WriteFile(tokenFile, []byte(cmdToken), c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(tokenFile, c.mode); err != nil { // past the umask
			t.Fatal(err)
		}
		cfg := daemonConfig{mirror: "file:" + filepath.Join(dir, "m.db"), api: apiURL, listen: "127.0.0.1:0", schedule: "@every 1h",
			shutdownTimeout: "30s", accounts: []string{"acme"}, tokenFile: tokenFile}
		cfgPath := filepath.Join(dir, "config.yaml")
		cfg.write(t, cfgPath)
		r := runMain(t, nil, "sync", "--config", cfgPath)
		if r.code != 0 || strings.Contains(r.stderr, "readable by group or others") != c.warn {
			t.Errorf("mode %04o: exit %d, warned %v, want %v\n%s", c.mode, r.code, !c.warn, c.warn, r.stderr)
		}
		if strings.Contains(r.stderr+r.stdout, cmdToken) {
			t.Errorf("mode %04o: the token appears in the output", c.mode)
		}
	}
}

// TestStatusShowsThePassInFlight: while a pass runs, /status says which org
// and resource it fetches and how far it got.
func TestStatusShowsThePassInFlight(t *testing.T) {
	simAddr := testport.Addr(t)
	startSimulator(t, simAddr, "--latency", "150ms")
	_, cfg, cfgPath := newDaemonConfig(t)
	cfg.api = "http://" + simAddr
	cfg.write(t, cfgPath)
	startTursync(t, []string{"ACME_TOKEN=" + cmdToken}, "run", "--config", cfgPath)
	testwait.UntilSays(t, "/status to show the pass in flight with pages fetched", func() (bool, string) {
		_, body := httpGet("http://" + cfg.listen + "/status")
		var st struct {
			Accounts []struct {
				Running  bool `json:"running"`
				LastPass *struct {
					Trigger string `json:"trigger"`
				} `json:"last_pass"`
				InFlight *struct {
					Org      string `json:"org"`
					Resource string `json:"resource"`
					Pages    int64  `json:"pages"`
					Rows     int64  `json:"rows"`
				} `json:"in_flight"`
			} `json:"accounts"`
		}
		_ = json.Unmarshal([]byte(body), &st)
		// The first pass of a daemon is recorded as its start-up pass.
		ok := len(st.Accounts) == 1 && st.Accounts[0].Running && st.Accounts[0].InFlight != nil &&
			st.Accounts[0].LastPass != nil && st.Accounts[0].LastPass.Trigger == "startup" &&
			st.Accounts[0].InFlight.Org != "" && st.Accounts[0].InFlight.Resource != "" && st.Accounts[0].InFlight.Pages > 0
		return ok, body
	})
}
