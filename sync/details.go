package sync

import (
	"context"
	"fmt"

	"github.com/tursync/tursync/mapper"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/turso"
)

// DefaultDetailsBudget is resources.database_details.max_calls_per_pass:
// the requests one account pass may spend on database details.
const DefaultDetailsBudget = 1000

// detailCallsPerDatabase: a database's configuration and its instances.
const detailCallsPerDatabase = 2

// fetchDatabaseDetails refreshes the details of the org's databases the
// mirror holds, least recently refreshed first, as far as what is left of
// the pass's budget allows. A database deleted since (404) is skipped: the
// databases scope tombstones it, and its details with it.
func (s *Syncer) fetchDatabaseDetails(ctx context.Context, j fetchJob) error {
	n := j.pf.takeDetailCalls(s.o.DetailsBudget) / detailCallsPerDatabase
	due, err := s.store.DetailsDue(ctx, j.a.ID, j.org, n)
	if err != nil {
		return err
	}
	// What this org does not use is left for the next.
	j.pf.returnDetailCalls((n - len(due)) * detailCallsPerDatabase)
	tr := trackerOf(ctx)
	rows := make([]schema.Row, 0, len(due))
	for _, d := range due {
		cfg, err := j.a.API.DatabaseConfiguration(ctx, j.org, d.Name)
		if turso.StatusOf(err) == 404 {
			continue
		}
		if err != nil {
			return fmt.Errorf("configuration of database %s: %w", d.Name, err)
		}
		inst, err := j.a.API.DatabaseInstances(ctx, j.org, d.Name)
		if turso.StatusOf(err) == 404 {
			continue
		}
		if err != nil {
			return fmt.Errorf("instances of database %s: %w", d.Name, err)
		}
		tr.page(1)
		rows = append(rows, mapper.DatabaseDetail(j.org, d.ID, d.Name, cfg, inst))
	}
	j.sc.Rows, err = s.store.Stage(ctx, j.a.ID, rows)
	return err
}
