package mapper_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/tursync/tursync/mapper"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/turso"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./mapper -update)", err)
	}
	if string(append(got, '\n')) != string(want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDatabaseExactKeys(t *testing.T) {
	d := decode[turso.Database](t, `{"Name":"my-db","DbId":"0eb771dd","Hostname":"my-db-acme.turso.io","block_reads":true,"block_writes":false,
		"regions":["aws-us-east-1"],"primaryRegion":"aws-us-east-1","group":"default","delete_protection":true,
		"parent":{"id":"p1","name":"base","branched_at":"2025-04-15T13:14:34Z"},"type":"logical","version":"0.24.32","sleeping":true}`)
	golden(t, "database", mapper.Database("acme", d))
}

func TestOrganization(t *testing.T) {
	o := decode[turso.Organization](t, `{"name":"Acme","slug":"acme","type":"team","overages":true,"require_mfa":true,"blocked_reads":true,"blocked_writes":false,"plan_id":"scaler","plan_timeline":"monthly","platform":""}`)
	golden(t, "organization", mapper.Organization(o))
}

func TestMembersAndInvitesUnifyUsers(t *testing.T) {
	ms := []turso.Member{{Username: "bob", Role: "admin", Email: "Bob@Example.com"}, {Username: "ann", Role: "owner", Email: "ann@example.com"}}
	users, ras := mapper.Members("acme", ms)
	is := []turso.Invite{
		{ID: 1, Email: "BOB@example.com", Role: "member", CreatedAt: "2026-01-01T00:00:00Z"}, // already a member here: membership wins
		{ID: 2, Email: "carol@example.com", Role: "viewer", CreatedAt: "2026-01-02T00:00:00Z"},
		{ID: 3, Email: "dave@example.com", Role: "admin", CreatedAt: "2026-01-03T00:00:00Z"}, // member of another org
	}
	dir := mapper.Directory{
		UserByEmail: map[string]string{"bob@example.com": "bob", "ann@example.com": "ann", "dave@example.com": "dave"},
		OrgMembers:  map[string]bool{"bob": true, "ann": true},
	}
	invs, iusers, iras := mapper.Invites("acme", is, dir)
	golden(t, "members_invites", map[string]any{"users": users, "assignments": ras, "invites": invs, "invite_users": iusers, "invite_assignments": iras})
	if len(iras) != 2 || iras[0].UserID != "email:carol@example.com" || iras[1].UserID != "dave" {
		t.Errorf("invite assignments: %+v", iras)
	}
}

func TestAuditLogIDIsContentHash(t *testing.T) {
	a := decode[turso.AuditLog](t, `{"code":"db-create","message":"","origin":"cli","author":"bob","created_at":"2026-01-01T00:00:00Z","data":{"b":1,"a":2}}`)
	b := decode[turso.AuditLog](t, `{"code":"db-create","message":"","origin":"cli","author":"bob","created_at":"2026-01-01T00:00:00Z","data":{"a":2,"b":1}}`)
	c := a
	c.Author = "ann"
	if mapper.AuditLog("o", a).ID != mapper.AuditLog("o", b).ID {
		t.Error("key order changed the id")
	}
	if mapper.AuditLog("o", a).ID == mapper.AuditLog("o", c).ID {
		t.Error("different events share an id")
	}
	golden(t, "audit_log", mapper.AuditLog("o", a))
}

func TestUsage(t *testing.T) {
	u := turso.OrgUsage{UUID: "u", Usage: turso.UsageCounters{RowsRead: 10, StorageBytes: 4096}}
	ds := []turso.DatabaseUsage{{UUID: "d1", Counters: turso.UsageCounters{RowsRead: 3}}, {UUID: ""}}
	golden(t, "usage", append([]schema.Usage{mapper.OrgUsage("acme", "2026-11-26", u)}, mapper.DatabaseUsage("acme", "2026-11-26", ds)...))
}
