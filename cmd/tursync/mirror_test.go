package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/testwait"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// limitFileSize makes every file this process writes stop at n bytes, with
// SIGXFSZ ignored so a write past it fails with EFBIG as on a full disk
// instead of killing the process.
func limitFileSize(n string) {
	limit, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		panic(err)
	}
	signal.Ignore(syscall.SIGXFSZ)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		panic(err)
	}
}

// mirrorFingerprint runs integrity_check and hashes every entity row's
// content and tombstone, the change log and the append-only tables: two
// equal fingerprints mean the pass changed nothing.
func mirrorFingerprint(t *testing.T, path string) string {
	t.Helper()
	db := openChecked(t, path)
	defer db.Close()
	h := sha256.New()
	for _, q := range []string{
		`SELECT content_hash || coalesce(deleted_at, '') FROM organizations`,
		`SELECT content_hash || coalesce(deleted_at, '') FROM users`,
		`SELECT content_hash || coalesce(deleted_at, '') FROM role_assignments`,
		`SELECT content_hash || coalesce(deleted_at, '') FROM invites`,
		`SELECT content_hash || coalesce(deleted_at, '') FROM databases`,
		`SELECT content_hash || coalesce(deleted_at, '') FROM "groups"`,
		`SELECT content_hash || coalesce(deleted_at, '') FROM api_tokens`,
		`SELECT id FROM audit_logs`,
		`SELECT organization_id || database_id || rows_read || rows_written FROM usage`,
		`SELECT id FROM change_events`,
	} {
		rows, err := db.Query(q + " ORDER BY 1")
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			fmt.Fprintln(h, s)
		}
		rows.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestMirrorFaults runs `tursync sync` as a process against a mirror it
// cannot write: read-only, in a missing directory, on a full disk, locked
// by another writer past the busy timeout, or migrated by a newer tursync.
// Each must exit 1 with an error naming the cause and leave the mirror as
// it was; once the fault is gone, the next pass converges.
func TestMirrorFaults(t *testing.T) {
	size := tursotest.Size{Orgs: 2, Members: 40, Invites: 8, Databases: 3000, Groups: 5, APITokens: 4, AuditEvents: 200}
	type mirrorFault struct {
		name string
		// arrange breaks the mirror at path and returns the mirror URL,
		// the extra environment and what undoes it.
		arrange func(t *testing.T, path string) (url string, env []string, undo func())
		// during, when set, readies the simulator before the pass and
		// returns what breaks the mirror once the pass has started, which
		// in turn returns what undoes it.
		// and returns what undoes it.
		during func(t *testing.T, sim *tursotest.Server, path string) (started func() (undo func()))
		want   []string // what the output must say, any of
		// scopes: the org's scopes must be reported failed with class
		// mirror (the pass reached the org's write).
		scopes bool
	}
	lock := func(t *testing.T, path string) (undo func()) {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		if _, err := db.Exec(`BEGIN IMMEDIATE`); err != nil {
			t.Fatal(err)
		}
		return func() { db.Exec(`ROLLBACK`); db.Close() }
	}
	faults := []mirrorFault{
		{name: "read-only", want: []string{"readonly", "read-only"},
			arrange: func(t *testing.T, path string) (string, []string, func()) {
				return "file:" + path + "?mode=ro", nil, func() {}
			}},
		{name: "directory missing", want: []string{"no such file or directory"},
			arrange: func(t *testing.T, path string) (string, []string, func()) {
				return "file:" + filepath.Join(filepath.Dir(path), "gone", "m.db"), nil, func() {}
			}},
		{name: "disk full", want: []string{"disk full or a file-size limit"}, scopes: true,
			arrange: func(t *testing.T, path string) (string, []string, func()) {
				// Room for the WAL's first frames, not for the org.
				return "file:" + path, []string{"TURSYNC_TEST_FSIZE=65536"}, func() {}
			}},
		{name: "locked past the busy timeout", want: []string{"locked", "busy"},
			arrange: func(t *testing.T, path string) (string, []string, func()) {
				return "file:" + path, nil, lock(t, path)
			}},
		{name: "locked while the orgs are fetched", want: []string{"locked"}, scopes: true,
			during: func(t *testing.T, sim *tursotest.Server, path string) func() func() {
				// The run has started once org1's groups are asked for;
				// that answer is held a second, and the lock is taken
				// before the org is written.
				sim.Inject(turso.RouteGroups, "org1", tursotest.Fault{Delay: time.Second, Times: 1})
				return func() func() {
					testwait.UntilSays(t, "the pass to fetch org1's groups", func() (bool, string) {
						for _, r := range sim.Requests() {
							if r.Route == turso.RouteGroups && r.Org == "org1" {
								return true, ""
							}
						}
						return false, "no groups request yet"
					})
					return lock(t, path)
				}
			}},
		{name: "schema from the future", want: []string{"newer"},
			arrange: func(t *testing.T, path string) (string, []string, func()) {
				db, err := sql.Open("sqlite", "file:"+path)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, 1)`); err != nil {
					t.Fatal(err)
				}
				return "file:" + path, nil, func() {
					db, err := sql.Open("sqlite", "file:"+path)
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					if _, err := db.Exec(`DELETE FROM goose_db_version WHERE version_id = 99999`); err != nil {
						t.Fatal(err)
					}
				}
			}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 5, Size: size, Token: cmdToken})
			dir := t.TempDir()
			path := filepath.Join(dir, "m.db")
			cfg := daemonConfig{mirror: "file:" + path, api: apiURL, listen: "127.0.0.1:0", schedule: "@every 1h",
				shutdownTimeout: "30s", accounts: []string{"acme"}, busyTimeout: "200ms"}
			cfgPath := filepath.Join(dir, "config.yaml")
			cfg.write(t, cfgPath)
			env := []string{"ACME_TOKEN=" + cmdToken}
			if code := startTursync(t, env, "sync", "--config", cfgPath).wait(); code != 0 {
				t.Fatalf("baseline sync exited %d", code)
			}
			// Changes in every org, so that a half-applied pass shows.
			for _, org := range sim.Orgs() {
				dbs := sim.Databases(org)
				sim.SetDatabases(org, len(dbs)*9/10)
				for j := range 50 {
					sim.CreateDatabase(org, fmt.Sprintf("new-%d", j), "")
				}
				sim.RemoveMember(org, sim.Members(org)[2].Username)
				sim.AppendAudit(org, "db-create", "system", nil)
			}
			before := mirrorFingerprint(t, path)

			url, extra, undo := "file:"+path, []string(nil), func() {}
			if f.arrange != nil {
				url, extra, undo = f.arrange(t, path)
			}
			faulty := cfg
			faulty.mirror = url
			faultyPath := filepath.Join(dir, "faulty.yaml")
			faulty.write(t, faultyPath)
			sim.ResetLog()
			var started func() func()
			if f.during != nil {
				started = f.during(t, sim, path)
			}
			p := startTursync(t, append(env, extra...), "sync", "--config", faultyPath)
			if started != nil {
				undo = started()
			}
			code := p.wait()
			undo()
			sim.ClearFaults()
			out := p.stdout.String() + p.log()
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s", code, out)
			}
			named := ""
			for _, line := range strings.Split(out, "\n") {
				for _, w := range f.want {
					if named == "" && strings.Contains(line, w) {
						named = line
					}
				}
			}
			t.Logf("exit %d: %s", code, named)
			if named == "" {
				t.Errorf("output names none of %q:\n%s", f.want, out)
			}
			if f.scopes && !strings.Contains(p.stdout.String(), "failed      [mirror]") {
				t.Errorf("no scope reported failed with class mirror:\n%s", p.stdout.String())
			}
			if strings.Contains(out, cmdToken) {
				t.Errorf("token in the output")
			}
			if _, err := os.Stat(filepath.Join(dir, "gone")); err == nil {
				t.Errorf("the missing directory was created")
			}
			if got := mirrorFingerprint(t, path); got != before {
				t.Errorf("the failed pass changed the mirror")
			}

			// The fault gone, the next pass applies every change (once the
			// lease a failed process could not release expires: 3s here).
			if code := startTursync(t, env, "sync", "--config", cfgPath, "--lease-wait", "30s").wait(); code != 0 {
				t.Fatalf("sync after the fault exited %d", code)
			}
			for _, org := range sim.Orgs() {
				var dbs, members int
				db := openChecked(t, path)
				db.QueryRow(`SELECT count(*) FROM databases WHERE organization_id = ? AND deleted_at IS NULL`, org).Scan(&dbs)
				db.QueryRow(`SELECT count(*) FROM role_assignments WHERE organization_id = ? AND source = 'members' AND deleted_at IS NULL`, org).Scan(&members)
				db.Close()
				if dbs != len(sim.Databases(org)) || members != len(sim.Members(org)) {
					t.Errorf("%s after convergence: %d databases, %d members; want %d, %d", org, dbs, members, len(sim.Databases(org)), len(sim.Members(org)))
				}
			}
		})
	}
}

// The mirror file moved away under a running daemon: /readyz says 503
// naming the file, the next pass fails (class mirror, logged at ERROR)
// and writes nothing; the file put back, passes complete again into it.
func TestMirrorFileMovedUnderTheDaemon(t *testing.T) {
	_, cfg, cfgPath := newDaemonConfig(t)
	cfg.schedule = "@every 1s"
	cfg.write(t, cfgPath)
	path := strings.TrimPrefix(cfg.mirror, "file:")
	p := startTursync(t, []string{"ACME_TOKEN=" + cmdToken}, "run", "--config", cfgPath)
	base := "http://" + cfg.listen
	testwait.UntilSays(t, "the first pass", func() (bool, string) {
		code, body := httpGet(base + "/readyz")
		return code == 200 && strings.Contains(p.log(), `"msg":"account pass"`), body
	})
	aside := path + ".aside"
	move := func(from, to string) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(from+suffix, to+suffix); err != nil && suffix == "" {
				t.Fatal(err)
			}
		}
	}
	move(path, aside)
	testwait.UntilSays(t, "/readyz to fail naming the file", func() (bool, string) {
		code, body := httpGet(base + "/readyz")
		return code == 503 && strings.Contains(body, path) && strings.Contains(body, "gone"), fmt.Sprint(code, body)
	})
	testwait.UntilSays(t, "a pass to fail on the missing mirror", func() (bool, string) {
		for _, line := range strings.Split(p.log(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "mirror file "+path+" is gone") {
				return true, ""
			}
		}
		return false, ""
	})
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("the daemon created a new mirror at %s while the old one was away", path)
	}
	before := runsIn(t, aside)
	move(aside, path)
	testwait.UntilSays(t, "/readyz back and a pass recorded in the file put back", func() (bool, string) {
		code, body := httpGet(base + "/readyz")
		return code == 200 && runsIn(t, path) > before, body
	})
	p.signal(syscall.SIGTERM)
	p.wait()
}

// runsIn counts the complete runs in a mirror file.
func runsIn(t *testing.T, path string) int {
	t.Helper()
	db := openChecked(t, path)
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sync_runs WHERE status = 'complete'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
