package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tursync/tursync/schema"
)

// Kind is what a fetched row needs: nothing, an insert, or an update.
type Kind uint8

// Row kinds, as Diff classifies them.
const (
	Unchanged Kind = iota
	New            // no row with this key, live or tombstoned
	Changed        // live, and the content hash differs
	Revived        // tombstoned: written again as it is now
)

// diffBatch bounds the keys one lookup sends; SQLite allows 32766 bound
// parameters and the widest key has 2 columns.
const diffBatch = 1000

// Diff classifies fetched rows against the mirror by key and content hash.
// It only reads, so it runs while the API is still being fetched, before the
// org's commit; ApplyOrg reads each changed row's old values before it
// commits. The account's lease keeps every other process from writing the
// account in between.
func (s *Store) Diff(ctx context.Context, account string, rows []schema.Row) ([]Kind, error) {
	kinds := make([]Kind, len(rows))
	byTable := map[*schema.Table][]int{}
	for i, r := range rows {
		byTable[r.Table()] = append(byTable[r.Table()], i)
	}
	for t, idx := range byTable {
		for start := 0; start < len(idx); start += diffBatch {
			if err := s.diffBatch(ctx, account, t, rows, idx[start:min(start+diffBatch, len(idx))], kinds); err != nil {
				return nil, fmt.Errorf("diff %s: %w", t.Name, err)
			}
		}
	}
	return kinds, nil
}

func (s *Store) diffBatch(ctx context.Context, account string, t *schema.Table, rows []schema.Row, idx []int, kinds []Kind) error {
	tuple := "(?" + strings.Repeat(", ?", len(t.Keys)-1) + ")"
	args := make([]any, 0, 1+len(idx)*len(t.Keys))
	args = append(args, account)
	want := make(map[string]int, len(idx))
	for _, i := range idx {
		keys := rows[i].KeyValues()
		for _, k := range keys {
			args = append(args, k)
		}
		want[strings.Join(keys, "\x00")] = i
		kinds[i] = New
	}
	q := `SELECT ` + strings.Join(t.Keys, ", ") + `, content_hash, deleted_at IS NOT NULL FROM ` + t.Quoted() +
		` WHERE account_id = ? AND (` + strings.Join(t.Keys, ", ") + `) IN (VALUES ` + tuple + strings.Repeat(", "+tuple, len(idx)-1) + `)`
	if org, ok := sameOrg(t, rows, idx); ok {
		// One org, the usual case: a plain IN list walks the primary key
		// directly, where row values go through a temporary table.
		q = `SELECT ` + strings.Join(t.Keys, ", ") + `, content_hash, deleted_at IS NOT NULL FROM ` + t.Quoted() +
			` WHERE account_id = ? AND organization_id = ? AND ` + t.Keys[1] + ` IN (?` + strings.Repeat(", ?", len(idx)-1) + `)`
		args = append(args[:1], org)
		for _, i := range idx {
			args = append(args, rows[i].KeyValues()[1])
		}
	}
	res, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer res.Close()
	keys := make([]string, len(t.Keys))
	var hash string
	var deleted bool
	ptrs := make([]any, 0, len(keys)+2)
	for i := range keys {
		ptrs = append(ptrs, &keys[i])
	}
	ptrs = append(ptrs, &hash, &deleted)
	for res.Next() {
		if err := res.Scan(ptrs...); err != nil {
			return err
		}
		i, ok := want[strings.Join(keys, "\x00")]
		if !ok {
			continue
		}
		r := rows[i]
		switch {
		case deleted:
			kinds[i] = Revived
		case hash == rowHash(r.Values(), r.Remote()):
			kinds[i] = Unchanged
		default:
			kinds[i] = Changed
		}
	}
	return res.Err()
}

// sameOrg reports whether the rows of a table keyed (organization_id, x)
// all belong to one org, and which.
func sameOrg(t *schema.Table, rows []schema.Row, idx []int) (string, bool) {
	if len(t.Keys) != 2 || t.Keys[0] != "organization_id" {
		return "", false
	}
	org := rows[idx[0]].KeyValues()[0]
	for _, i := range idx {
		if rows[i].KeyValues()[0] != org {
			return "", false
		}
	}
	return org, true
}

// KeyIter yields the key of every row a scope's fetch returned.
type KeyIter func(yield func(t *schema.Table, keys []string) error) error

// Staged is a scope's entity rows after Diff: only the rows to write, and
// the keys of all rows, which decide what the fetch no longer returned.
type Staged struct {
	New, Changed RowIter // Changed holds the revived rows too
	Keys         KeyIter
	Unchanged    int
	// Added counts per table the rows that become live: new and revived.
	Added map[*schema.Table]int
	// Fetched counts the fetched rows per table. Once they are written,
	// every one of them is live; when the table's live rows of the org
	// number the same, none is missing and the tombstone step skips
	// matching every key.
	Fetched map[*schema.Table]int
}

// Count adds one diffed row to the staged counts.
func (st *Staged) Count(t *schema.Table, k Kind) {
	if st.Fetched == nil {
		st.Fetched = map[*schema.Table]int{}
	}
	if st.Added == nil {
		st.Added = map[*schema.Table]int{}
	}
	st.Fetched[t]++
	switch k {
	case Unchanged:
		st.Unchanged++
	case New, Revived:
		st.Added[t]++
	}
}

// Stage diffs a scope's rows held in memory and returns them staged.
func (s *Store) Stage(ctx context.Context, account string, rows []schema.Row) (*Staged, error) {
	kinds, err := s.Diff(ctx, account, rows)
	if err != nil {
		return nil, err
	}
	var fresh, changed []schema.Row
	st := &Staged{Keys: RowKeys(SliceIter(rows))}
	for i, k := range kinds {
		st.Count(rows[i].Table(), k)
		switch k {
		case New:
			fresh = append(fresh, rows[i])
		case Changed, Revived:
			changed = append(changed, rows[i])
		}
	}
	st.New, st.Changed = SliceIter(fresh), SliceIter(changed)
	return st, nil
}

// RowKeys yields the keys of rows.
func RowKeys(rows RowIter) KeyIter {
	return func(yield func(t *schema.Table, keys []string) error) error {
		return rows(func(r schema.Row) error { return yield(r.Table(), r.KeyValues()) })
	}
}

// DiffUsage classifies usage rows against the mirror, like Diff: a row is
// new when the mirror has none for its (org, day, database), changed when
// a counter differs.
func (s *Store) DiffUsage(ctx context.Context, account string, us []schema.Usage) ([]Kind, error) {
	kinds := make([]Kind, len(us))
	for start := 0; start < len(us); start += diffBatch {
		if err := s.diffUsageBatch(ctx, account, us[start:min(start+diffBatch, len(us))], kinds[start:]); err != nil {
			return nil, fmt.Errorf("diff usage: %w", err)
		}
	}
	return kinds, nil
}

type usageKey struct{ org, day, db string }

type usageCounters struct{ rr, rw, sb, bs int64 }

func countersOf(u schema.Usage) usageCounters {
	return usageCounters{u.RowsRead, u.RowsWritten, u.StorageBytes, u.BytesSynced}
}

// lookupUsage reads the stored counters of a batch of usage rows.
func (s *Store) lookupUsage(ctx context.Context, account string, batch []schema.Usage) (map[usageKey]usageCounters, error) {
	args := []any{account}
	for _, u := range batch {
		args = append(args, u.OrganizationID, u.Day, u.DatabaseID)
	}
	query := `SELECT organization_id, day, database_id, rows_read, rows_written, storage_bytes, bytes_synced FROM usage
		WHERE account_id = ? AND (organization_id, day, database_id) IN (VALUES (?, ?, ?)` + strings.Repeat(", (?, ?, ?)", len(batch)-1) + `)`
	if sameDay(batch) {
		// One org and day, the usual case: walk the primary key directly.
		args = append(args[:1], batch[0].OrganizationID, batch[0].Day)
		for _, u := range batch {
			args = append(args, u.DatabaseID)
		}
		query = `SELECT organization_id, day, database_id, rows_read, rows_written, storage_bytes, bytes_synced FROM usage
			WHERE account_id = ? AND organization_id = ? AND day = ? AND database_id IN (?` + strings.Repeat(", ?", len(batch)-1) + `)`
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := make(map[usageKey]usageCounters, len(batch))
	for rows.Next() {
		var k usageKey
		var v usageCounters
		if err := rows.Scan(&k.org, &k.day, &k.db, &v.rr, &v.rw, &v.sb, &v.bs); err != nil {
			return nil, err
		}
		have[k] = v
	}
	return have, rows.Err()
}

func sameDay(batch []schema.Usage) bool {
	for _, u := range batch {
		if u.OrganizationID != batch[0].OrganizationID || u.Day != batch[0].Day {
			return false
		}
	}
	return true
}

func (s *Store) diffUsageBatch(ctx context.Context, account string, batch []schema.Usage, kinds []Kind) error {
	have, err := s.lookupUsage(ctx, account, batch)
	if err != nil {
		return err
	}
	for i, u := range batch {
		old, ok := have[usageKey{u.OrganizationID, u.Day, u.DatabaseID}]
		switch {
		case !ok:
			kinds[i] = New
		case old == countersOf(u):
			kinds[i] = Unchanged
		default:
			kinds[i] = Changed
		}
	}
	return nil
}

// querier is what a lookup needs: the database or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}
