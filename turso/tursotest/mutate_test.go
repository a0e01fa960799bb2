package tursotest_test

import (
	"encoding/json"
	"testing"

	"github.com/tursync/tursync/turso/tursotest"
)

// Each mutation logs the audit event the real API logs for it, naming the
// object and authored by the actor.
func TestMutationsLogTheirAuditEvents(t *testing.T) {
	sim := tursotest.New(tursotest.Config{Seed: 3, Size: tursotest.Size{Orgs: 1, Members: 20, Invites: 1, Databases: 3, Groups: 1, APITokens: 1, AuditEvents: 1}})
	org := sim.Orgs()[0]
	before := sim.AuditEvents(org)
	sim.SetActor("carol")
	db := sim.Databases(org)[0].Name
	sim.DeleteDatabase(org, db)
	if got := sim.AuditEvents(org) - before; got != 1 {
		t.Fatalf("DeleteDatabase logged %d events", got)
	}
	a := sim.Audit(org)[0]
	var data map[string]any
	if err := json.Unmarshal(a.Data, &data); err != nil {
		t.Fatal(err)
	}
	if a.Code != "db-delete" || a.Author != "carol" || data["name"] != db {
		t.Errorf("DeleteDatabase logged %+v (data %v), want db-delete of %s by carol", a, data, db)
	}
	before = sim.AuditEvents(org)
	n := sim.ChurnMembers(0.25)
	if n == 0 || sim.AuditEvents(org)-before != n {
		t.Errorf("ChurnMembers changed %d roles and logged %d events", n, sim.AuditEvents(org)-before)
	}
}
