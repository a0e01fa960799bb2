package sync_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tursync/tursync/internal/testmetrics"
	"github.com/tursync/tursync/metrics"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
)

// Counts are one truth: after passes with churn (roles change, members
// leave and return, invites accepted and revoked, databases come and go,
// a guard trip forced, an org offboarded), every label's rows written,
// created less deleted, in the metrics and in the passes' results, equals
// the live rows the mirror holds under that label (tursync_mirror_rows),
// and the pass's orgs are the orgs.
func TestCountsAgreeWithTheMirror(t *testing.T) {
	e := newEnv(t, small)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test", "go")
	e.opts.Metrics = m
	results := map[string]storage.Counts{}
	pass := func(step string, force bool) {
		t.Helper()
		r := e.pass(func(o *tsync.Options) { o.ForceDeletes = force })
		if r.Status == storage.StatusFailed {
			t.Fatalf("%s: %v", step, r.Err)
		}
		if want := len(e.sim.Orgs()); step != "offboard" && r.OrgCount() != want {
			t.Errorf("%s: the pass counts %d orgs, the API lists %d", step, r.OrgCount(), want)
		}
		for label, c := range r.Written {
			sum := results[label]
			sum.Add(c)
			results[label] = sum
		}
	}
	pass("baseline", false)
	ms := e.sim.Members("org1")
	e.sim.SetMemberRole("org1", ms[1].Username, "viewer")
	e.sim.RemoveMember("org1", ms[2].Username)
	invs := e.sim.Invites("org1")
	e.sim.AcceptInvite("org1", invs[0].Email, "joiner")
	e.sim.RevokeInvite("org1", invs[1].Email)
	dbs := e.sim.Databases("org2")
	e.sim.DeleteDatabase("org2", dbs[3].Name)
	e.sim.CreateDatabase("org2", "fresh", "default")
	pass("churn", false)
	e.sim.SetDatabases("org1", 1)
	pass("guarded", false)
	pass("forced", true)
	e.sim.AddMember("org1", ms[2])
	pass("restore", false)
	e.sim.DeleteOrg("org2")
	pass("offboard", true)

	live, err := e.store.LiveRows(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if live[schema.ResInvites+"/role_assignments"] == 0 || live[schema.UsersLabel] == 0 || live[schema.ResDatabases] == 0 {
		t.Fatalf("the scenario left too little to compare: %v", live)
	}
	t.Logf("live rows: %v", live)
	for label, n := range live {
		created := testmetrics.Value(t, reg, "tursync_rows_written_total", map[string]string{"resource": label, "op": "created"})
		deleted := testmetrics.Value(t, reg, "tursync_rows_written_total", map[string]string{"resource": label, "op": "deleted"})
		if got := int64(created - deleted); got != n {
			t.Errorf("%s: rows_written created %v - deleted %v = %d, the mirror holds %d live", label, created, deleted, got, n)
		}
		if mr := testmetrics.Value(t, reg, "tursync_mirror_rows", map[string]string{"account": "acme", "resource": label}); int64(mr) != n {
			t.Errorf("%s: mirror_rows %v, the mirror holds %d", label, mr, n)
		}
		if c := results[label]; int64(c.Created-c.Deleted) != n {
			t.Errorf("%s: the passes' results say created %d - deleted %d, the mirror holds %d", label, c.Created, c.Deleted, n)
		}
	}
}
