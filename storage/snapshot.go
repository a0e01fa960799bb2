package storage

import (
	"context"
	"fmt"

	"github.com/tursync/tursync/schema"
)

// Snapshot is what the mirror holds of one org's table, keyed by the
// table's last key column: each row's content hash and whether it is
// tombstoned. It is read in a few pages before a large scope is fetched,
// so that diffing the fetched pages costs no mirror round trip and the
// Platform API is never kept waiting on the mirror (a remote mirror
// answers each lookup in milliseconds; 250 lookups per 250,000 rows add up).
type Snapshot struct {
	t    *schema.Table
	rows map[string]snapRow
}

type snapRow struct {
	hash    string
	deleted bool
}

// snapshotPage bounds one read of a snapshot, far below a remote mirror's
// 10 MB response cap.
const snapshotPage = 20000

// Snapshot reads the org's rows of t (a table keyed (organization_id, x)).
func (s *Store) Snapshot(ctx context.Context, account, org string, t *schema.Table) (*Snapshot, error) {
	if len(t.Keys) != 2 || t.Keys[0] != "organization_id" {
		return nil, fmt.Errorf("snapshot of %s: not an org-keyed table", t.Name)
	}
	sn := &Snapshot{t: t, rows: map[string]snapRow{}}
	k := t.Keys[1]
	last := ""
	for {
		rows, err := s.db.QueryContext(ctx, `SELECT `+k+`, content_hash, deleted_at IS NOT NULL FROM `+t.Quoted()+
			` WHERE account_id = ? AND organization_id = ? AND `+k+` > ? ORDER BY `+k+` LIMIT ?`, account, org, last, snapshotPage)
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", t.Name, err)
		}
		n := 0
		for rows.Next() {
			var id string
			var r snapRow
			if err := rows.Scan(&id, &r.hash, &r.deleted); err != nil {
				rows.Close()
				return nil, fmt.Errorf("snapshot of %s: %w", t.Name, err)
			}
			sn.rows[id] = r
			last = id
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", t.Name, err)
		}
		if n < snapshotPage {
			return sn, nil
		}
	}
}

// Diff classifies rows of the snapshot's table and org, as Store.Diff does,
// without a mirror read.
func (sn *Snapshot) Diff(rows []schema.Row) []Kind {
	kinds := make([]Kind, len(rows))
	for i, r := range rows {
		old, ok := sn.rows[r.KeyValues()[1]]
		switch {
		case !ok:
			kinds[i] = New
		case old.deleted:
			kinds[i] = Revived
		case old.hash == rowHash(r.Values(), r.Remote()):
			kinds[i] = Unchanged
		default:
			kinds[i] = Changed
		}
	}
	return kinds
}

// UsageSnapshot is the usage counters the mirror holds for one org and day,
// by database id ("" for the org total).
type UsageSnapshot struct {
	rows map[string]usageCounters
}

// UsageSnapshot reads an org's usage rows of one day, in pages.
func (s *Store) UsageSnapshot(ctx context.Context, account, org, day string) (*UsageSnapshot, error) {
	sn := &UsageSnapshot{rows: map[string]usageCounters{}}
	last, first := "", true
	for {
		rows, err := s.db.QueryContext(ctx, `SELECT database_id, rows_read, rows_written, storage_bytes, bytes_synced FROM usage
			WHERE account_id = ? AND organization_id = ? AND day = ? AND (database_id > ? OR ?) ORDER BY database_id LIMIT ?`,
			account, org, day, last, first, snapshotPage)
		if err != nil {
			return nil, fmt.Errorf("usage snapshot: %w", err)
		}
		n := 0
		for rows.Next() {
			var id string
			var c usageCounters
			if err := rows.Scan(&id, &c.rr, &c.rw, &c.sb, &c.bs); err != nil {
				rows.Close()
				return nil, fmt.Errorf("usage snapshot: %w", err)
			}
			sn.rows[id] = c
			last = id
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("usage snapshot: %w", err)
		}
		first = false
		if n < snapshotPage {
			return sn, nil
		}
	}
}

// Diff classifies usage rows of the snapshot's org and day: new when the
// mirror has none for the database, changed when a counter differs.
func (sn *UsageSnapshot) Diff(us []schema.Usage) []Kind {
	kinds := make([]Kind, len(us))
	for i, u := range us {
		old, ok := sn.rows[u.DatabaseID]
		switch {
		case !ok:
			kinds[i] = New
		case old == countersOf(u):
			kinds[i] = Unchanged
		default:
			kinds[i] = Changed
		}
	}
	return kinds
}
