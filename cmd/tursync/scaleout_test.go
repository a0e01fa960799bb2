package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/sqldtest"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso/tursotest"
)

// TestScaleOut is the scale-out run of scripts/scaleout.sh (skipped unless
// TURSYNC_SCALEOUT=1): one sqld, a fleet of 12 simulated accounts whose
// databases keep changing, three `tursync run` daemons with the same 12
// accounts on @every 5s. One daemon is SIGKILLed, another SIGSTOPped in the
// middle of an org write for longer than the lease, then SIGCONTed. Every
// account must complete passes throughout, no two committing runs of one
// account may overlap, no scope may fail but by a lost lease, the stopped
// daemon's commit must be refused, no change event may be recorded twice,
// and the mirror must end equal to a file mirror synced from the same
// simulator.
func TestScaleOut(t *testing.T) {
	if os.Getenv("TURSYNC_SCALEOUT") != "1" {
		t.Skip("set TURSYNC_SCALEOUT=1 (scripts/scaleout.sh) to run the scale-out test")
	}
	total := 120 * time.Second
	if s := os.Getenv("TURSYNC_SCALEOUT_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		total = time.Duration(n) * time.Second
	}
	const (
		accounts = 12
		interval = 5 * time.Second
		ttl      = 6 * time.Second
	)
	srv := sqldtest.Start(t, sqldtest.Options{})
	sim, apiURL := tursotest.NewServer(t, tursotest.Config{Seed: 21, Size: tursotest.Small, Fleet: accounts, Latency: 5 * time.Millisecond})
	dir := t.TempDir()
	var env []string
	var accts strings.Builder
	for i := 1; i <= accounts; i++ {
		env = append(env, fmt.Sprintf("FLEET_%d=fleet-%d", i, i))
		fmt.Fprintf(&accts, "  - id: fleet-%d\n    token_env: FLEET_%d\n", i, i)
	}
	// The daemons' HTTP endpoints are not used here: port 0 lets each
	// bind whatever port is free when it starts, where a port picked
	// beforehand may meanwhile be taken as the local port of a connection
	// another daemon opens.
	writeCfg := func(name, mirror string) string {
		p := filepath.Join(dir, name+".yaml")
		y := fmt.Sprintf("mirror: {url: %q}\napi: {base_url: %q, requests_per_second: 1000, max_retries: 2}\nhttp: {listen: %q}\n"+
			"log: {level: debug, format: json}\nsync: {max_concurrent_accounts: 4, lease_ttl: %s, min_interval: 1s}\ndefaults: {schedule: \"@every %s\"}\naccounts:\n%s",
			mirror, apiURL, "127.0.0.1:0", ttl, interval, accts.String())
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var daemons []*proc
	for i := range 3 {
		daemons = append(daemons, startTursync(t, env, "run", "--config", writeCfg(fmt.Sprintf("d%d", i), srv.URL)))
	}
	// The fleet keeps changing while the daemons run.
	stopChurn := make(chan struct{})
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		tick := time.NewTicker(3 * time.Second)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stopChurn:
				return
			case <-tick.C:
			}
			sim.Churn(0.02)
			org := fmt.Sprintf("fleet-%d-org1", n%accounts+1)
			sim.CreateDatabase(org, fmt.Sprintf("churn-%d", n), "")
		}
	}()
	start := time.Now()

	time.Sleep(total / 3) // a soak phase, not a wait for a result
	killAt := time.Now()
	daemons[0].signal(syscall.SIGKILL)
	daemons[0].wait()

	time.Sleep(total / 6)
	// SIGSTOP the second daemon right after it starts an org write, for
	// longer than the lease; up to three tries until one lands mid-pass.
	refused := false
	for try := 0; try < 3 && !refused; try++ {
		daemons[1].drain()
		daemons[1].waitLog("writing org")
		daemons[1].signal(syscall.SIGSTOP)
		time.Sleep(ttl + 2*interval) // the others take its accounts meanwhile
		daemons[1].signal(syscall.SIGCONT)
		// The pass in flight resumes and must find its lease gone, at its
		// next commit or renewal, whichever comes first.
		for end := time.Now().Add(3 * interval); !refused && time.Now().Before(end); {
			refused = strings.Contains(daemons[1].log(), storage.ErrLeaseLost.Error())
			time.Sleep(100 * time.Millisecond) // polling the log, not waiting for a result
		}
	}
	if !refused {
		t.Errorf("the daemon stopped past its lease never had a commit refused:\n%s", tail(daemons[1].log(), 40))
	}

	if rest := total - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	close(stopChurn)
	<-churned
	time.Sleep(2*interval + 2*time.Second) // a pass of every account after the last change
	for _, d := range daemons[1:] {
		d.signal(syscall.SIGTERM)
		if code := d.wait(); code != 0 {
			t.Errorf("a daemon exited %d on SIGTERM", code)
		}
	}
	// One more pass on the shared mirror, then a fresh file mirror from the
	// same simulator: they must hold the same live rows.
	sqldCfg := writeCfg("final", srv.URL)
	if code := startTursync(t, env, "sync", "--config", sqldCfg, "--lease-wait", "30s").wait(); code != 0 {
		t.Fatalf("a final sync on the shared mirror exited %d", code)
	}
	fileCfg := writeCfg("file", "file:"+filepath.Join(dir, "fresh.db"))
	if code := startTursync(t, env, "sync", "--config", fileCfg).wait(); code != 0 {
		t.Fatalf("a sync into a file mirror exited %d", code)
	}

	shared := testmirror.OpenURL(t, srv.URL, storage.Options{NoMigrate: true})
	fresh := openChecked(t, filepath.Join(dir, "fresh.db"))
	db := shared.DB()

	type run struct {
		id                           int64
		status, started, finished, e string
	}
	runs := map[string][]run{}
	rows, err := db.Query(`SELECT id, account_id, status, started_at, coalesce(finished_at, ''), coalesce(error, '') FROM sync_runs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r run
		var acct string
		if err := rows.Scan(&r.id, &acct, &r.status, &r.started, &r.finished, &r.e); err != nil {
			t.Fatal(err)
		}
		runs[acct] = append(runs[acct], r)
	}
	rows.Close()
	killed := killAt.UTC().Format(time.RFC3339)
	pickupBy := killAt.Add(ttl + interval + 3*time.Second).UTC().Format(time.RFC3339)
	for i := 1; i <= accounts; i++ {
		acct := fmt.Sprintf("fleet-%d", i)
		complete, pickedUp := 0, false
		var last run
		for _, r := range runs[acct] {
			switch r.status {
			case storage.StatusComplete:
				complete++
				if r.started >= killed && r.started <= pickupBy {
					pickedUp = true
				}
			case "aborted":
				continue
			case storage.StatusInterrupted:
				// The daemons' shutdown at the end stops the passes in
				// flight between two orgs: an outcome, not a fault (it
				// was recorded partial before, and failed here as well).
				if !strings.Contains(r.e, "shutdown") {
					t.Errorf("%s run %d interrupted by other than a shutdown: %s", acct, r.id, r.e)
				}
				continue
			case storage.StatusFailed:
				if !strings.Contains(r.e, "lease") {
					t.Errorf("%s run %d failed: %s", acct, r.id, r.e)
				}
				continue
			default:
				t.Errorf("%s run %d ended %s: %s", acct, r.id, r.status, r.e)
				continue
			}
			if last.id != 0 && r.started < last.finished {
				t.Errorf("%s: committing runs %d (%s-%s) and %d (%s-%s) overlap", acct, last.id, last.started, last.finished, r.id, r.started, r.finished)
			}
			last = r
		}
		if complete < 3 {
			t.Errorf("%s completed %d passes, want at least 3", acct, complete)
		}
		if !pickedUp {
			t.Errorf("%s: no complete pass started between the kill (%s) and lease_ttl plus one interval later (%s)", acct, killed, pickupBy)
		}
	}
	for i, d := range daemons {
		if strings.Contains(d.log(), "Transaction timed out") {
			t.Errorf("daemon %d had a transaction stolen by the server's timeout", i)
		}
	}
	var failedScopes int
	if err := db.QueryRow(`SELECT count(*) FROM sync_scopes WHERE status = 'failed' AND coalesce(error, '') NOT LIKE '%lease%'`).Scan(&failedScopes); err != nil {
		t.Fatal(err)
	}
	if failedScopes != 0 {
		t.Errorf("%d scopes failed for another reason than a lost lease", failedScopes)
	}
	assertNoDuplicateEvents(t, db)
	for _, q := range []string{
		`SELECT account_id || '/' || id || '/' || content_hash FROM organizations WHERE deleted_at IS NULL ORDER BY 1`,
		`SELECT account_id || '/' || id || '/' || content_hash FROM users WHERE deleted_at IS NULL ORDER BY 1`,
		`SELECT account_id || '/' || organization_id || '/' || user_id || '/' || content_hash FROM role_assignments WHERE deleted_at IS NULL ORDER BY 1`,
		`SELECT account_id || '/' || organization_id || '/' || id || '/' || content_hash FROM invites WHERE deleted_at IS NULL ORDER BY 1`,
		`SELECT account_id || '/' || organization_id || '/' || id || '/' || content_hash FROM databases WHERE deleted_at IS NULL ORDER BY 1`,
		`SELECT account_id || '/' || organization_id || '/' || id || '/' || content_hash FROM "groups" WHERE deleted_at IS NULL ORDER BY 1`,
		`SELECT account_id || '/' || organization_id || '/' || id || '/' || content_hash FROM api_tokens WHERE deleted_at IS NULL ORDER BY 1`,
		`SELECT account_id || '/' || organization_id || '/' || id FROM audit_logs ORDER BY 1`,
	} {
		a, b := column(t, db, q), column(t, fresh, q)
		if len(b) == 0 || strings.Join(a, "\n") != strings.Join(b, "\n") {
			t.Errorf("the shared mirror and a fresh file mirror differ (%d vs %d rows): %s", len(a), len(b), q)
		}
	}
}

// assertNoDuplicateEvents fails when one entity has the same change
// recorded twice in a row: what two writers of one account would leave.
func assertNoDuplicateEvents(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`SELECT account_id, entity, entity_id, op, changes FROM change_events ORDER BY account_id, entity, entity_id, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var prev [5]string
	n := 0
	for rows.Next() {
		var cur [5]string
		if err := rows.Scan(&cur[0], &cur[1], &cur[2], &cur[3], &cur[4]); err != nil {
			t.Fatal(err)
		}
		n++
		if cur == prev {
			t.Errorf("change event recorded twice: %v", cur)
		}
		prev = cur
	}
	if n == 0 {
		t.Errorf("no change events: the churn did not reach the mirror")
	}
}

func column(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// drain forgets the log messages seen so far, so that waitLog waits for a
// new one.
func (p *proc) drain() {
	for {
		select {
		case <-p.seen:
		default:
			return
		}
	}
}
