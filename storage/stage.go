package storage

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
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
// org's commit; the commit reads each changed row's old values before it
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
	// A key the batch holds twice gets the same answer for each row.
	want := make(map[string][]int, len(idx))
	for _, i := range idx {
		keys := rows[i].KeyValues()
		for _, k := range keys {
			args = append(args, k)
		}
		k := strings.Join(keys, "\x00")
		want[k] = append(want[k], i)
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
		for _, i := range want[strings.Join(keys, "\x00")] {
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
	// Unchanged counts per table the fetched rows the mirror already has.
	Unchanged map[*schema.Table]int
	// Added counts per table the rows that become live: new and revived.
	Added map[*schema.Table]int
	seen  map[uint64]struct{} // hashes of the keys counted
	// Fetched counts the fetched rows per table. Once they are written,
	// every one of them is live; when the table's live rows of the org
	// number the same, none is missing and the tombstone step skips
	// matching every key.
	Fetched map[*schema.Table]int
	// Repeated counts the rows dropped for repeating a key the answer
	// already gave (a member listed twice, with two roles): the first
	// is kept.
	Repeated int
	// allFetched is the feed every live row of which the fetch returned,
	// as its snapshot found (Snapshot.Seal); nil when not known.
	allFetched *feed
}

// Count adds one diffed row to the staged counts and reports whether its
// key is new to the scope. A key the fetch already returned is not counted
// again, and the caller drops the row (the first wins): counted twice, it
// could stand in for a missing row and keep that row from its tombstone.
// Keys are remembered as 64-bit hashes; a collision only sends the scope
// down the exact tombstone path, which compares whole keys.
func (st *Staged) Count(t *schema.Table, keys []string, k Kind) bool {
	if st.Fetched == nil {
		st.Fetched = map[*schema.Table]int{}
		st.Added = map[*schema.Table]int{}
		st.Unchanged = map[*schema.Table]int{}
		st.seen = map[uint64]struct{}{}
	}
	h := fnv.New64a()
	h.Write([]byte(seenKey(t, keys)))
	sum := h.Sum64()
	if _, dup := st.seen[sum]; dup {
		st.Repeated++
		return false
	}
	st.seen[sum] = struct{}{}
	st.Fetched[t]++
	switch k {
	case Unchanged:
		st.Unchanged[t]++
	case New, Revived:
		st.Added[t]++
	}
	return true
}

// Finish frees what Count needs to find repeated keys, once every row of
// the scope is counted: a million keys' worth for a large org.
func (st *Staged) Finish() { st.seen = nil }

// stageRows diffs a scope's rows held in memory and returns them staged.
func (s *Store) stageRows(ctx context.Context, account string, rows []schema.Row) (*Staged, error) {
	kinds, err := s.Diff(ctx, account, rows)
	if err != nil {
		return nil, err
	}
	var fresh, changed []schema.Row
	st := &Staged{Keys: RowKeys(SliceIter(rows))}
	for i, k := range kinds {
		if !st.Count(rows[i].Table(), rows[i].KeyValues(), k) {
			continue
		}
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

type usageCounters struct{ rr, rw, sb, bs int64 }

func countersOf(u schema.Usage) usageCounters {
	return usageCounters{u.RowsRead, u.RowsWritten, u.StorageBytes, u.BytesSynced}
}

// querier is what a lookup needs: the database or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}
