package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/tursync/tursync/mapper"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
)

// DefaultDetailsBudget is resources.database_details.max_calls_per_pass:
// the requests one account pass may spend on database details.
const DefaultDetailsBudget = 1000

// detailCallsPerDatabase: a database's configuration and its instances.
const detailCallsPerDatabase = 2

// errEnough stops reading a staged scope early.
var errEnough = errors.New("enough")

// newDatabases are up to n of the databases the pass's databases scope
// found new (not in the mirror yet, so not in its due list).
func newDatabases(rows storage.RowIter, n int) ([]storage.DueDatabase, error) {
	if rows == nil || n <= 0 {
		return nil, nil
	}
	var out []storage.DueDatabase
	err := rows(func(r schema.Row) error {
		keys, vals := r.KeyValues(), r.Values()
		name, _ := vals[0].(string)
		out = append(out, storage.DueDatabase{ID: keys[len(keys)-1], Name: name})
		if len(out) == n {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return out, err
}

// fetchDatabaseDetails refreshes the details of the org's databases, as
// far as what is left of the pass's budget allows: those this pass found
// new first, then the mirror's, least recently refreshed first. A
// database deleted since (404) is skipped: the databases scope tombstones
// it, and its details with it.
func (s *Syncer) fetchDatabaseDetails(ctx context.Context, j fetchJob) error {
	n := j.pf.detailCallsLeft(s.o.DetailsBudget) / detailCallsPerDatabase
	due, err := newDatabases(j.of.newDatabases, n)
	if err != nil {
		return err
	}
	more, err := j.lk.DetailsDue(ctx, j.org, n-len(due))
	if err != nil {
		return err
	}
	due = append(due, more...)
	// What this org does not use is left for the next.
	j.pf.detailCalls += len(due) * detailCallsPerDatabase
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
	j.sc.Rows, err = j.o.Stage(ctx, rows)
	return err
}
