package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/duckdbtest"
	"github.com/tursync/tursync/internal/pgtest"
	"github.com/tursync/tursync/internal/testclock"
	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// bed is a mirror synced from the simulator and a PostgreSQL target.
type bed struct {
	t     *testing.T
	clk   *testclock.Clock
	sim   *tursotest.Server
	url   string
	store *storage.Store
	pg    *pgtest.Server
	exp   Export
}

func newBed(t *testing.T) *bed {
	t.Helper()
	clk := testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 5, Size: tursotest.Size{Orgs: 2, Members: 40, Invites: 5, Databases: 120,
		Groups: 3, APITokens: 4, AuditEvents: 30}, Token: "tok", Now: clk.Now})
	m := testmirror.Open(t, storage.Options{Now: clk.Now})
	pg := pgtest.Start(t)
	b := &bed{t: t, clk: clk, sim: sim, url: url, store: m.Store, pg: pg, exp: Export{ID: "wh", To: pg.URL}}
	b.pass()
	return b
}

func (b *bed) pass(resources ...string) {
	b.t.Helper()
	c, err := turso.NewClient(turso.Options{BaseURL: b.url, Token: turso.NewSecret("tok"), Now: b.clk.Now})
	if err != nil {
		b.t.Fatal(err)
	}
	res := tsync.New(tsync.MirrorOf(b.store), tsync.Options{Now: b.clk.Now}).SyncAccount(context.Background(),
		tsync.Account{ID: "acme", API: c, Resources: resources})
	if res.Status != storage.StatusComplete {
		b.t.Fatalf("pass: %s %v", res.Status, res.Err)
	}
	b.clk.Advance(time.Minute)
}

func (b *bed) run(o Options) Report {
	b.t.Helper()
	o.Now = b.clk.Now
	rep, err := Run(context.Background(), b.store, b.exp, o)
	if err != nil {
		b.t.Fatalf("export: %v", err)
	}
	return rep
}

// same compares every exported table of the target with the mirror, row
// by row, and fails naming the first differences.
func (b *bed) same(step string) {
	b.t.Helper()
	ctx := context.Background()
	conn := b.pg.Conn(b.t)
	for _, t := range exportable {
		mirror := map[string]string{}
		read, err := b.store.Exports().Begin(ctx)
		if err != nil {
			b.t.Fatal(err)
		}
		err = read.Scan(ctx, t.name, t.columnNames(), storage.ExportFilter{}, func(vals []any) error {
			row := make([]any, len(vals))
			for i, v := range vals {
				x, err := t.columns[i].value(v)
				if err != nil {
					return err
				}
				row[i] = x
			}
			k, v := canonical(t, row)
			mirror[k] = v
			return nil
		})
		read.Close()
		if err != nil {
			b.t.Fatal(err)
		}
		rows, err := conn.Query(ctx, `SELECT `+quotedCols(t)+` FROM `+ident(t.name))
		if err != nil {
			b.t.Fatal(err)
		}
		target := map[string]string{}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				b.t.Fatal(err)
			}
			k, v := canonical(t, vals)
			if _, dup := target[k]; dup {
				b.t.Errorf("%s: %s: key %s twice in the target", step, t.name, k)
			}
			target[k] = v
		}
		rows.Close()
		var diffs []string
		for k, v := range mirror {
			if tv, ok := target[k]; !ok {
				diffs = append(diffs, "missing "+k)
			} else if tv != v {
				diffs = append(diffs, fmt.Sprintf("%s: target %s, mirror %s", k, tv, v))
			}
		}
		for k := range target {
			if _, ok := mirror[k]; !ok {
				diffs = append(diffs, "extra "+k)
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 0 {
			b.t.Errorf("%s: %s differs in %d rows (mirror %d, target %d): %s", step, t.name, len(diffs), len(mirror), len(target),
				strings.Join(diffs[:min(3, len(diffs))], "; "))
		}
	}
}

func quotedCols(t *table) string {
	q := make([]string, len(t.columns))
	for i, c := range t.columns {
		q[i] = ident(c.name)
	}
	return strings.Join(q, ", ")
}

// canonical is a row's key and its values as comparable text: times in
// UTC, JSON decoded (the target normalises jsonb).
func canonical(t *table, vals []any) (key, row string) {
	norm := make([]any, len(vals))
	var keys []string
	for i, v := range vals {
		switch x := v.(type) {
		case time.Time:
			v = x.UTC().Format(time.RFC3339Nano)
		case string:
			if t.columns[i].typ == typeJSONB {
				var d any
				if json.Unmarshal([]byte(x), &d) == nil {
					v = d
				}
			}
		case int32:
			v = int64(x)
		}
		norm[i] = v
		for _, k := range t.key {
			if k == t.columns[i].name {
				keys = append(keys, fmt.Sprint(v))
			}
		}
	}
	b, _ := json.Marshal(norm)
	return strings.Join(keys, "/"), string(b)
}

func copies(rep Report) map[string]string {
	out := map[string]string{}
	for _, t := range rep.Tables {
		out[t.Table] = t.Copy
	}
	return out
}

// The first run copies every table; after churn, a run copies only what
// changed (entity tables by their change events) and the target equals
// the mirror; a resource newly enabled, whose first pass writes without
// change events, reaches the target too.
func TestSnapshotThenChanges(t *testing.T) {
	b := newBed(t)
	rep := b.run(Options{})
	for _, tr := range rep.Tables {
		if tr.Copy != "full" || tr.Why != "first run" {
			t.Errorf("first run: %s copied %s (%s)", tr.Table, tr.Copy, tr.Why)
		}
	}
	if rep.Rows() == 0 {
		t.Fatal("the first run wrote nothing")
	}
	b.same("snapshot")

	org := b.sim.Orgs()[0]
	b.sim.ChurnMembers(0.2)
	b.sim.Churn(0.1)
	b.sim.DeleteDatabase(org, b.sim.Databases(org)[0].Name)
	b.sim.CreateDatabase(org, "fresh-db", b.sim.Groups(org)[0].Name)
	b.sim.AddUsage(org, b.sim.Databases(org)[1].Name, 100, 5)
	b.sim.AddMember(org, tursotest.Member{Username: "newcomer", Role: "admin", Email: "newcomer@example.com"})
	b.sim.RemoveMember(org, b.sim.Members(org)[1].Username)
	b.sim.CreateInvite(org, "invitee@example.com", "member")
	b.pass()
	rep = b.run(Options{})
	for table, how := range copies(rep) {
		if how != "changes" {
			t.Errorf("after churn: %s copied %s", table, how)
		}
	}
	if rep.Rows() == 0 {
		t.Error("after churn: the run wrote nothing")
	}
	for _, tr := range rep.Tables {
		if tr.Table == "row_versions" && tr.Rows == 0 {
			t.Error("after churn: no row version reached the target")
		}
	}
	b.same("after churn")
	// docs/exports.md's query gives the history view's rows from the
	// target's two halves.
	var want, got int
	if err := b.store.DB().QueryRow(`SELECT count(*) FROM role_assignment_history`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	err := b.pg.Conn(t).QueryRow(context.Background(), `SELECT count(*) FROM (
		SELECT v.organization_id, v.row_id AS user_id, v.content->>'role_id' AS role_id, v.valid_from, v.valid_to
		  FROM row_versions v WHERE v.entity = 'role_assignments'
		UNION ALL
		SELECT organization_id, user_id, role_id, updated_at, NULL
		  FROM role_assignments WHERE deleted_at IS NULL) h`).Scan(&got)
	if err != nil || got != want || got == 0 {
		t.Errorf("the history of role assignments in the target: %d rows (%v); the mirror's view has %d", got, err, want)
	}

	// Nothing changed: the entity tables write nothing.
	rep = b.run(Options{})
	for _, tr := range rep.Tables {
		if tr.Rows != 0 && (tr.Table == "databases" || tr.Table == "role_assignments" || tr.Table == "change_events") {
			t.Errorf("unchanged: %s wrote %d rows", tr.Table, tr.Rows)
		}
	}

	// database_details is opt-in: its first pass is a baseline, no events.
	b.pass(append(append([]string(nil), schema.DefaultResources...), schema.ResDatabaseDetails)...)
	var details int
	if err := b.store.DB().QueryRow(`SELECT count(*) FROM database_details`).Scan(&details); err != nil || details == 0 {
		t.Fatalf("the details pass wrote %d rows (%v)", details, err)
	}
	b.run(Options{})
	b.same("after a baseline pass")
}

// A run stopped anywhere (mid-table, between batches, before the commit)
// leaves the target as it was; the next run repeats nothing and loses
// nothing.
func TestStoppedRunsLoseNothing(t *testing.T) {
	b := newBed(t)
	batchRows = 50
	t.Cleanup(func() { batchRows = 5000; stopAt = nil })
	points := []struct {
		name string
		full bool
		at   func(table string, rows int64) bool
	}{
		{"at the first row", false, func(string, int64) bool { return true }},
		{"mid databases of a full copy, after two batches", true, func(table string, rows int64) bool { return table == "databases" && rows >= 110 }},
		{"at change_events", false, func(table string, _ int64) bool { return table == "change_events" }},
		{"before the commit", false, func(table string, _ int64) bool { return table == "commit" }},
	}
	for round, p := range points {
		stopAt = p.at
		_, err := Run(context.Background(), b.store, b.exp, Options{Now: b.clk.Now, Full: p.full})
		if !errors.Is(err, errStopped) {
			t.Fatalf("%s: the run was not stopped: %v", p.name, err)
		}
		stopAt = nil
		if round == 0 {
			// Nothing committed yet: the target has no state.
			var n int
			err := b.pg.Conn(t).QueryRow(context.Background(), `SELECT count(*) FROM `+stateTable).Scan(&n)
			if err == nil && n != 0 {
				t.Fatalf("%s: %d cursors committed", p.name, n)
			}
		}
		b.run(Options{})
		b.same("after a run stopped " + p.name)
		b.sim.ChurnMembers(0.1)
		b.sim.Churn(0.05)
		b.pass()
	}
}

// PostgreSQL down before a run, or stopped in the middle of one: the run
// fails with the network class and a hint, the cursor stays; once it is
// back, the next run catches up.
func TestPostgresDown(t *testing.T) {
	b := newBed(t)
	b.run(Options{})
	b.sim.Churn(0.1)
	b.pass()
	b.pg.Stop()
	_, err := Run(context.Background(), b.store, b.exp, Options{Now: b.clk.Now})
	var te *TargetError
	if !errors.As(err, &te) || te.Class != "network" || !strings.Contains(err.Error(), "the next run resumes") {
		t.Fatalf("with PostgreSQL down: %v", err)
	}
	b.pg.Restart()
	rep := b.run(Options{})
	if copies(rep)["databases"] != "changes" {
		t.Errorf("after the restart: databases copied %s", copies(rep)["databases"])
	}
	b.same("after PostgreSQL came back")

	// Stopped while the run copies change_events (after the databases).
	b.sim.Churn(0.1)
	b.sim.ChurnMembers(0.2)
	b.pass()
	stopAt = func(table string, _ int64) bool {
		if table == "change_events" && b.pg != nil {
			b.pg.Stop()
		}
		return false
	}
	_, err = Run(context.Background(), b.store, b.exp, Options{Now: b.clk.Now})
	stopAt = nil
	if !errors.As(err, &te) || te.Class != "network" {
		t.Fatalf("PostgreSQL stopped mid-run: %v", err)
	}
	b.pg.Restart()
	b.run(Options{})
	b.same("after PostgreSQL stopped mid-run and came back")
}

// Retention removing change events the export has not read makes the
// next run copy anew, and so does an append-only table that went back; a column the target lacks (a mirror migration added
// it) is added and its table copied anew; a column of another type fails
// the run naming it.
func TestRetentionNewColumnAndConflict(t *testing.T) {
	b := newBed(t)
	b.run(Options{})
	b.sim.Churn(0.2)
	b.pass()
	if _, err := b.store.DB().Exec(`DELETE FROM change_events WHERE id <= (SELECT max(id) - 1 FROM change_events)`); err != nil {
		t.Fatal(err)
	}
	rep := b.run(Options{})
	for _, tr := range rep.Tables {
		if tr.Table == "databases" && (tr.Copy != "full" || !strings.Contains(tr.Why, "retention")) {
			t.Errorf("after retention: databases copied %s (%s)", tr.Copy, tr.Why)
		}
	}
	b.same("after retention")

	// A mirror whose row_versions end before the cursor (a backup
	// restored) is copied anew rather than read from rowids it reuses.
	if _, err := b.store.DB().Exec(`DELETE FROM row_versions WHERE rowid = (SELECT max(rowid) FROM row_versions)`); err != nil {
		t.Fatal(err)
	}
	rep = b.run(Options{})
	for _, tr := range rep.Tables {
		if tr.Table == "row_versions" && (tr.Copy != "full" || !strings.Contains(tr.Why, "restored or replaced")) {
			t.Errorf("row_versions behind the cursor: copied %s (%s)", tr.Copy, tr.Why)
		}
	}
	b.same("after row_versions went back")

	ctx := context.Background()
	conn := b.pg.Conn(t)
	if _, err := conn.Exec(ctx, `ALTER TABLE databases DROP COLUMN archived`); err != nil {
		t.Fatal(err)
	}
	rep = b.run(Options{})
	for _, tr := range rep.Tables {
		if tr.Table == "databases" && (tr.Copy != "full" || tr.Why != "new column archived") {
			t.Errorf("a new column: databases copied %s (%s)", tr.Copy, tr.Why)
		}
	}
	b.same("after a new column")

	if _, err := conn.Exec(ctx, `ALTER TABLE groups ALTER COLUMN version TYPE bigint USING 0`); err != nil {
		t.Fatal(err)
	}
	_, err := Run(ctx, b.store, b.exp, Options{Now: b.clk.Now})
	if err == nil || !strings.Contains(err.Error(), "groups.version is bigint in the target; the export writes text") {
		t.Fatalf("a conflicting column: %v", err)
	}
}

// A dry run writes nothing; --full copies everything again, while
// readers see the old rows, and keeps the views made on the tables.
func TestDryRunAndFull(t *testing.T) {
	b := newBed(t)
	rep := b.run(Options{DryRun: true})
	if !rep.DryRun || rep.Rows() == 0 {
		t.Fatalf("dry run: %+v", rep)
	}
	var exists bool
	if err := b.pg.Conn(t).QueryRow(context.Background(), `SELECT to_regclass('databases') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("a dry run left the databases table (%v)", err)
	}
	b.run(Options{})
	// A view a warehouse made on a table, and a reader in the middle of
	// a whole copy: it sees the old rows at once, the view survives.
	ctx := context.Background()
	conn, reader := b.pg.Conn(t), b.pg.Conn(t)
	if _, err := conn.Exec(ctx, `CREATE VIEW live_databases AS SELECT * FROM databases WHERE deleted_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	var before int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM databases`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Exec(ctx, `SET lock_timeout = '5s'`); err != nil {
		t.Fatal(err)
	}
	var during int
	var readErr error
	stopAt = func(table string, rows int64) bool {
		if table == "databases" && rows == 50 {
			readErr = reader.QueryRow(ctx, `SELECT count(*) FROM databases`).Scan(&during)
		}
		return false
	}
	rep = b.run(Options{Full: true})
	stopAt = nil
	if readErr != nil || during != before {
		t.Errorf("a reader during the whole copy read %d rows (%v); the table held %d", during, readErr, before)
	}
	for _, tr := range rep.Tables {
		if tr.Copy != "full" || tr.Why != "--full" {
			t.Errorf("--full: %s copied %s (%s)", tr.Table, tr.Copy, tr.Why)
		}
	}
	var live int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM live_databases`).Scan(&live); err != nil || live == 0 {
		t.Errorf("the view on databases after --full: %d rows (%v)", live, err)
	}
	b.same("after --full")
}

// latest is DuckDB SQL for the newest version of each row of a table's
// Parquet files.
func latest(dir string, t *table) string {
	keys := strings.Join(t.key, ", ")
	return `(SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY ` + keys + ` ORDER BY _seq DESC) AS rn
		FROM read_parquet('` + filepath.Join(dir, t.name, "*.parquet") + `')) WHERE rn = 1)`
}

// The Parquet files DuckDB reads hold the mirror: every table's newest
// rows, through a full copy, two runs of changes and a run stopped before
// its commit; the manifest lists the files; a dry run writes none.
func TestParquetReadByDuckDB(t *testing.T) {
	duckdbtest.Query(t, "SELECT 1") // skips early without DuckDB
	b := newBed(t)
	dir := t.TempDir()
	b.exp = Export{ID: "lake", To: "parquet:" + dir}
	if rep := b.run(Options{DryRun: true}); rep.Rows() == 0 {
		t.Fatal("the dry run counted nothing")
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 1 { // the lock file
		t.Fatalf("a dry run wrote %d entries", len(entries))
	}
	b.run(Options{})
	org := b.sim.Orgs()[0]
	for round := range 2 {
		b.sim.Churn(0.2)
		b.sim.ChurnMembers(0.3)
		b.sim.DeleteDatabase(org, b.sim.Databases(org)[round].Name)
		b.sim.AddMember(org, tursotest.Member{Username: fmt.Sprint("joiner", round), Role: "member", Email: fmt.Sprint("joiner", round, "@example.com")})
		b.pass()
		b.run(Options{})
	}
	// A run stopped before it commits leaves no file a glob reads.
	b.sim.Churn(0.2)
	b.pass()
	stopAt = func(table string, _ int64) bool { return table == "commit" }
	if _, err := Run(context.Background(), b.store, b.exp, Options{Now: b.clk.Now}); !errors.Is(err, errStopped) {
		t.Fatalf("the stopped run: %v", err)
	}
	stopAt = nil
	rep := b.run(Options{})
	if copies(rep)["databases"] != "changes" {
		t.Errorf("after the stopped run: databases copied %s", copies(rep)["databases"])
	}

	var queries []string
	var want []string
	for _, tb := range exportable {
		queries = append(queries, `SELECT count(*) FROM `+latest(dir, tb))
		var n int
		if err := b.store.DB().QueryRow(`SELECT count(*) FROM "` + tb.name + `"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprint(n))
	}
	dbs := tableOf("databases")
	queries = append(queries, `SELECT string_agg(id || ':' || CAST(block_reads AS INTEGER) || ':' || (deleted_at IS NULL)::INTEGER || ':' || _op, ',' ORDER BY id) FROM `+latest(dir, dbs))
	// Empty strings and false stay themselves, not NULL.
	queries = append(queries, `SELECT count(*) FILTER (WHERE group_name = ''), count(*) FILTER (WHERE NOT delete_protection) FROM `+latest(dir, dbs))
	got := duckdbtest.Query(t, queries...)
	var emptyGroup, unprotected int
	if err := b.store.DB().QueryRow(`SELECT count(*) FILTER (WHERE group_name = ''), count(*) FILTER (WHERE delete_protection = 0) FROM databases`).Scan(&emptyGroup, &unprotected); err != nil {
		t.Fatal(err)
	}
	if g := got[len(got)-1][0]; fmt.Sprint(g[0]) != fmt.Sprint(emptyGroup) || fmt.Sprint(g[1]) != fmt.Sprint(unprotected) || unprotected == 0 {
		t.Errorf("DuckDB reads %v databases with an empty group and unprotected; the mirror has %d and %d", g, emptyGroup, unprotected)
	}
	for i, tb := range exportable {
		if n := fmt.Sprint(got[i][0][0]); n != want[i] {
			t.Errorf("%s: DuckDB reads %s rows, the mirror has %s", tb.name, n, want[i])
		}
	}
	var mirror string
	if err := b.store.DB().QueryRow(`SELECT group_concat(x, ',') FROM (SELECT id || ':' || block_reads || ':' || (deleted_at IS NULL) AS x FROM databases ORDER BY id)`).Scan(&mirror); err != nil {
		t.Fatal(err)
	}
	var stripped []string
	ops := map[string]bool{}
	for _, v := range strings.Split(fmt.Sprint(got[len(exportable)][0][0]), ",") {
		i := strings.LastIndex(v, ":")
		stripped = append(stripped, v[:i])
		ops[v[i+1:]] = true
	}
	if strings.Join(stripped, ",") != mirror {
		t.Errorf("databases in DuckDB differ from the mirror:\n%s\n%s", strings.Join(stripped, ",")[:200], mirror[:200])
	}
	if !ops["snapshot"] || !ops["updated"] || !ops["deleted"] {
		t.Errorf("the newest rows' _op are %v; want snapshot, updated and deleted among them", ops)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "_manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifestOf
	if err := json.Unmarshal(raw, &m); err != nil || len(m.Tables["databases"].Files) < 2 || m.Tables["databases"].Cursor.Event == 0 {
		t.Errorf("manifest: %v %s", err, raw)
	}
}

func tableOf(name string) *table {
	for _, t := range exportable {
		if t.name == name {
			return t
		}
	}
	panic(name)
}
