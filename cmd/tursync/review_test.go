package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tursync/tursync/turso/tursotest"
)

// The access review lists one row per person per org: the CSV parses with
// the header of reviewColumns, the JSON validates against the published
// schema, both hold every live assignment, and --out writes the file.
func TestExportAccessReview(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 2, Members: 5, Invites: 2, Databases: 2, Groups: 1, APITokens: 1, AuditEvents: 40}, Token: cmdToken})
	dir := t.TempDir()
	mirror := filepath.Join(dir, "m.db")
	cfg := writeConfig(t, "file:"+mirror, url)
	env := map[string]string{"ACME_TOKEN": cmdToken}
	if r := runMain(t, env, "sync", "--config", cfg); r.code != 0 {
		t.Fatalf("sync: %d %s", r.code, r.stderr)
	}
	live := countRows(t, mirror, `SELECT count(*) FROM role_assignments WHERE deleted_at IS NULL`)

	r := runMain(t, env, "export", "access-review", "--config", cfg, "--format", "csv")
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if r.code != 0 || err != nil {
		t.Fatalf("csv: exit %d, %v\n%s", r.code, err, r.stderr)
	}
	if strings.Join(recs[0], ",") != strings.Join(reviewColumns, ",") || len(recs)-1 != live {
		t.Errorf("csv: header %v, %d rows; want %v and %d", recs[0], len(recs)-1, reviewColumns, live)
	}

	out := filepath.Join(dir, "review.json")
	if r := runMain(t, env, "export", "access-review", "--config", cfg, "--format", "json", "--out", out); r.code != 0 {
		t.Fatalf("json: exit %d %s", r.code, r.stderr)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	schema, err := c.Compile("../../docs/access-review.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("the JSON export fails its schema: %v", err)
	}
	var rev reviewDocument
	raw, _ := os.ReadFile(out)
	if err := json.Unmarshal(raw, &rev); err != nil || len(rev.Rows) != live {
		t.Fatalf("json: %v, %d rows, want %d", err, len(rev.Rows), live)
	}
	active := 0
	for _, row := range rev.Rows {
		if row.Status == "active" && row.LastActivityAt != nil {
			active++
		}
	}
	if active == 0 {
		t.Errorf("no member has a last activity, though the simulator's audit log names them as authors")
	}
	// A bad format or account is a usage error, and nothing is written.
	for _, args := range [][]string{
		{"export", "access-review", "--config", cfg, "--format", "xml"},
		{"export", "access-review", "--config", cfg, "--format", "csv", "--account", "nope"},
		{"export", "frobnicate", "--config", cfg},
	} {
		if r := runMain(t, env, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
	// --org narrows it to one org.
	r = runMain(t, env, "export", "access-review", "--config", cfg, "--format", "csv", "--org", "org1")
	recs, _ = csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if want := countRows(t, mirror, `SELECT count(*) FROM role_assignments WHERE deleted_at IS NULL AND organization_id = 'org1'`); len(recs)-1 != want || want == 0 {
		t.Errorf("--org org1: %d rows, want %d", len(recs)-1, want)
	}
}
