package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/tursync/tursync/schema"
)

// Snapshot is what the mirror holds of one org's table, keyed by the
// table's last key column: each row's content hash and whether it is
// tombstoned. It is read in a few pages before a large scope is fetched,
// so that diffing the fetched pages costs no mirror round trip and the
// Platform API is never kept waiting on the mirror (a remote mirror
// answers each lookup in milliseconds; 250 lookups per 250,000 rows add up).
//
// On a file: mirror a lookup costs microseconds, so there the snapshot reads
// nothing ahead and each Diff looks its page up, which keeps memory flat.
type Snapshot struct {
	t    *schema.Table
	rows map[string]snapRow
	// lookup, on a file: mirror, diffs a page against the mirror directly.
	lookup func(ctx context.Context, rows []schema.Row) ([]Kind, error)
}

// snapRow keeps the hash as bytes: a snapshot of 250,000 rows is held in
// memory for the whole fetch.
type snapRow struct {
	hash    [16]byte
	deleted bool
}

func hashBytes(h string) [16]byte {
	var b [16]byte
	_, _ = hex.Decode(b[:], []byte(h))
	return b
}

// snapshotPage bounds one read of a snapshot, far below a remote mirror's
// 10 MB response cap.
const snapshotPage = 5000

// Snapshot reads the org's rows of t (a table keyed (organization_id, x)).
func (s *Store) Snapshot(ctx context.Context, account, org string, t *schema.Table) (*Snapshot, error) {
	if len(t.Keys) != 2 || t.Keys[0] != "organization_id" {
		return nil, fmt.Errorf("snapshot of %s: not an org-keyed table", t.Name)
	}
	sn := &Snapshot{t: t, rows: map[string]snapRow{}}
	if !s.remote {
		sn.lookup = func(ctx context.Context, rows []schema.Row) ([]Kind, error) { return s.Diff(ctx, account, rows) }
		return sn, nil
	}
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
			var id, hash string
			var r snapRow
			if err := rows.Scan(&id, &hash, &r.deleted); err != nil {
				rows.Close()
				return nil, fmt.Errorf("snapshot of %s: %w", t.Name, err)
			}
			r.hash = hashBytes(hash)
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

// Diff classifies rows of the snapshot's table and org, as Store.Diff does;
// on a remote mirror without a mirror read.
func (sn *Snapshot) Diff(ctx context.Context, rows []schema.Row) ([]Kind, error) {
	if sn.lookup != nil {
		return sn.lookup(ctx, rows)
	}
	kinds := make([]Kind, len(rows))
	for i, r := range rows {
		old, ok := sn.rows[r.KeyValues()[1]]
		switch {
		case !ok:
			kinds[i] = New
		case old.deleted:
			kinds[i] = Revived
		case old.hash == hashBytes(rowHash(r.Values(), r.Remote())):
			kinds[i] = Unchanged
		default:
			kinds[i] = Changed
		}
	}
	return kinds, nil
}

// UsageSnapshot is the usage counters the mirror holds for one org and day,
// by database id ("" for the org total).
type UsageSnapshot struct {
	rows map[string]usageCounters
	// lookup, on a file: mirror, reads a page's stored counters directly.
	lookup func(ctx context.Context, us []schema.Usage) (map[string]usageCounters, error)
}

// UsageSnapshot reads an org's usage rows of one day, in pages.
func (s *Store) UsageSnapshot(ctx context.Context, account, org, day string) (*UsageSnapshot, error) {
	sn := &UsageSnapshot{rows: map[string]usageCounters{}}
	if !s.remote {
		sn.lookup = func(ctx context.Context, us []schema.Usage) (map[string]usageCounters, error) {
			return s.lookupUsage(ctx, account, org, day, us)
		}
		return sn, nil
	}
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
func (sn *UsageSnapshot) Diff(ctx context.Context, us []schema.Usage) ([]Kind, error) {
	have := sn.rows
	if sn.lookup != nil {
		var err error
		if have, err = sn.lookup(ctx, us); err != nil {
			return nil, err
		}
	}
	kinds := make([]Kind, len(us))
	for i, u := range us {
		old, ok := have[u.DatabaseID]
		switch {
		case !ok:
			kinds[i] = New
		case old == countersOf(u):
			kinds[i] = Unchanged
		default:
			kinds[i] = Changed
		}
	}
	return kinds, nil
}

// lookupUsage reads the stored counters of usage rows of one org and day,
// by database id.
func (s *Store) lookupUsage(ctx context.Context, account, org, day string, us []schema.Usage) (map[string]usageCounters, error) {
	have := make(map[string]usageCounters, len(us))
	for start := 0; start < len(us); start += diffBatch {
		batch := us[start:min(start+diffBatch, len(us))]
		args := []any{account, org, day}
		for _, u := range batch {
			args = append(args, u.DatabaseID)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT database_id, rows_read, rows_written, storage_bytes, bytes_synced FROM usage
			WHERE account_id = ? AND organization_id = ? AND day = ? AND database_id IN (?`+strings.Repeat(", ?", len(batch)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("diff usage: %w", err)
		}
		for rows.Next() {
			var id string
			var c usageCounters
			if err := rows.Scan(&id, &c.rr, &c.rw, &c.sb, &c.bs); err != nil {
				rows.Close()
				return nil, fmt.Errorf("diff usage: %w", err)
			}
			have[id] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("diff usage: %w", err)
		}
	}
	return have, nil
}
