package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
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
	// baton: every object has the fields baton-file requires and only the
	// fields its JSON instructions list (docs/access-review.md quotes them),
	// and every grant names a user, a resource and an entitlement defined.
	r = runMain(t, env, "export", "access-review", "--config", cfg, "--format", "baton")
	var baton map[string][]map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &baton); r.code != 0 || err != nil {
		t.Fatalf("baton: exit %d, %v\n%s", r.code, err, r.stderr)
	}
	fields := map[string]struct{ required, allowed []string }{
		"users": {[]string{"id", "display_name"}, []string{"email", "status", "type", "last_login", "login", "login_aliases", "employee_id",
			"additional_emails", "mfa_enabled", "sso_enabled", "status_details", "profile"}},
		"resources": {[]string{"resource_type", "trait", "id", "display_name"}, []string{"description", "parent_resource", "profile", "created_at",
			"expires_at", "created_by", "identity"}},
		"entitlements":       {[]string{"resource_id", "entitlement_slug"}, []string{"display_name", "description"}},
		"direct_user_grants": {[]string{"principal_id", "resource_id", "entitlement_slug"}, nil},
	}
	for key := range baton {
		if _, ok := fields[key]; !ok {
			t.Errorf("baton: top-level key %q is not one baton-file reads", key)
		}
	}
	defined := map[string]bool{}
	for key, f := range fields {
		for i, obj := range baton[key] {
			for _, k := range f.required {
				if v, ok := obj[k].(string); !ok || v == "" {
					t.Errorf("baton %s[%d] lacks %s: %v", key, i, k, obj)
				}
			}
			for k := range obj {
				if !slices.Contains(f.required, k) && !slices.Contains(f.allowed, k) {
					t.Errorf("baton %s[%d] has %s, which baton-file does not read", key, i, k)
				}
			}
			switch key {
			case "users", "resources":
				defined[key+":"+obj["id"].(string)] = true
			case "entitlements":
				defined["entitlement:"+obj["resource_id"].(string)+"/"+obj["entitlement_slug"].(string)] = true
			}
		}
	}
	if grants := baton["direct_user_grants"]; len(grants) != countRows(t, mirror, `SELECT count(*) FROM role_assignments WHERE deleted_at IS NULL AND status = 'active'`) {
		t.Errorf("baton: %d grants, want one per active membership", len(grants))
	}
	for _, g := range baton["direct_user_grants"] {
		if !defined["users:"+g["principal_id"].(string)] || !defined["resources:"+g["resource_id"].(string)] ||
			!defined["entitlement:"+g["resource_id"].(string)+"/"+g["entitlement_slug"].(string)] {
			t.Errorf("baton grant %v names something undefined", g)
		}
	}
	// vanta: the sync body, each account with only UserAccount fields of
	// Vanta's API reference, one per active membership.
	r = runMain(t, env, "export", "access-review", "--config", cfg, "--format", "vanta", "--vanta-resource-id", "res-123")
	var vanta struct {
		ResourceID string           `json:"resourceId"`
		Resources  []map[string]any `json:"resources"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &vanta); r.code != 0 || err != nil || vanta.ResourceID != "res-123" {
		t.Fatalf("vanta: exit %d, %v, resourceId %q\n%s", r.code, err, vanta.ResourceID, r.stderr)
	}
	vantaFields := []string{"displayName", "uniqueId", "externalUrl", "fullName", "accountName", "email", "createdTimestamp", "mfaEnabled",
		"mfaMethods", "roleDescription", "updatedTimestamp", "deactivatedTimestamp", "lastLoginTimestamp", "lastPasswordResetTimestamp", "groupIds"}
	if want := countRows(t, mirror, `SELECT count(*) FROM role_assignments WHERE deleted_at IS NULL AND status = 'active'`); len(vanta.Resources) != want {
		t.Errorf("vanta: %d accounts, want one per active membership (%d)", len(vanta.Resources), want)
	}
	for i, acc := range vanta.Resources {
		for k := range acc {
			if !slices.Contains(vantaFields, k) {
				t.Errorf("vanta resources[%d] has %s, which is not a UserAccount field", i, k)
			}
		}
		for _, k := range []string{"displayName", "uniqueId", "accountName", "roleDescription"} {
			if v, ok := acc[k].(string); !ok || v == "" {
				t.Errorf("vanta resources[%d] lacks %s: %v", i, k, acc)
			}
		}
	}
	// A bad format or account is a usage error, and nothing is written.
	for _, args := range [][]string{
		{"export", "access-review", "--config", cfg, "--format", "xml"},
		{"export", "access-review", "--config", cfg, "--format", "csv", "--account", "nope"},
		{"export", "frobnicate", "--config", cfg},
		{"export", "access-review", "--config", cfg, "--format", "vanta"}, // no resource id
		{"export", "access-review", "--config", cfg, "--format", "csv", "--vanta-resource-id", "x"},
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
