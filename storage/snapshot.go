package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"

	"github.com/tursync/tursync/schema"
)

// Snapshot is what the mirror holds of one org's table, keyed by the
// table's last key column: each row's content hash and whether it is
// tombstoned. It is read by one ordered scan of the org's rows, in pages,
// while the org's first scopes are fetched, so that diffing the fetched
// pages costs no mirror read: looking up each page's keys by IN list costs
// a random seek per row into the table (a remote mirror adds a round trip
// per page), where the scan reads the org's rows in key order once.
//
// It is held as sorted parallel slices, the keys back to back in one
// arena: about 30 bytes a row (30 MB for a million role assignments), not
// a map or a slice of strings, which cost several times as much once the
// garbage collector's headroom is counted.
type Snapshot struct {
	t       *schema.Table
	ids     sortedKeys
	hashes  [][16]byte
	deleted []bool
	// For a scope's snapshot (ScopeSnapshot): which rows belong to the
	// scope's feed, and which of them a fetched key matched.
	feed    *feed
	inFeed  []bool
	matched []bool
}

// sortedKeys is a sorted list of strings held in one arena.
type sortedKeys struct {
	arena []byte
	ends  []uint32 // end offset of each key in arena
}

// append adds k, which sorts after every key already held.
func (sk *sortedKeys) append(k string) {
	sk.arena = append(sk.arena, k...)
	sk.ends = append(sk.ends, uint32(len(sk.arena)))
}

func (sk *sortedKeys) at(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = sk.ends[i-1]
	}
	return sk.arena[start:sk.ends[i]]
}

// search returns k's index and whether it is held.
func (sk *sortedKeys) search(k string) (int, bool) {
	i := sort.Search(len(sk.ends), func(i int) bool { return string(sk.at(i)) >= k })
	return i, i < len(sk.ends) && string(sk.at(i)) == k
}

func hashBytes(h string) [16]byte {
	var b [16]byte
	_, _ = hex.Decode(b[:], []byte(h))
	return b
}

// snapshotPage bounds one read of a snapshot, far below a remote mirror's
// 10 MB response cap.
const snapshotPage = 5000

// Snapshot reads the org's rows of t, a table keyed (organization_id, x);
// or, for an account-wide table keyed by one column (users), the
// account's rows, org being ignored.
func (s *Store) Snapshot(ctx context.Context, account, org string, t *schema.Table) (*Snapshot, error) {
	return s.snapshot(ctx, account, org, t, nil)
}

// ScopeSnapshot reads the org's rows of the table a scope fills (its
// guarded feed: databases, or role assignments for members), marking those
// of the feed, so that Seal can tell the tombstone step that every live row
// was fetched again.
func (s *Store) ScopeSnapshot(ctx context.Context, account, org, resource string) (*Snapshot, error) {
	for _, f := range feedsOf(resource) {
		if f.guard {
			return s.snapshot(ctx, account, org, f.t, &f)
		}
	}
	return nil, fmt.Errorf("snapshot of %s: the scope fills no table", resource)
}

func (s *Store) snapshot(ctx context.Context, account, org string, t *schema.Table, f *feed) (*Snapshot, error) {
	inFeed := "1"
	if f != nil && f.filter != "" {
		inFeed = f.filter
	}
	sel := `SELECT ` + t.Keys[len(t.Keys)-1] + `, content_hash, deleted_at IS NOT NULL, ` + inFeed + ` FROM ` + t.Quoted() + ` WHERE account_id = ?`
	args := []any{account}
	switch {
	case len(t.Keys) == 2 && t.Keys[0] == "organization_id":
		sel += ` AND organization_id = ?`
		args = append(args, org)
	case len(t.Keys) != 1:
		return nil, fmt.Errorf("snapshot of %s: neither org-keyed nor keyed by one column", t.Name)
	}
	sn := &Snapshot{t: t, feed: f}
	err := s.scanPages(ctx, sel, t.Keys[len(t.Keys)-1], args, func(scan func(...any) error) (string, error) {
		var id, hash string
		var deleted, in bool
		if err := scan(&id, &hash, &deleted, &in); err != nil {
			return "", err
		}
		sn.ids.append(id)
		sn.hashes, sn.deleted = append(sn.hashes, hashBytes(hash)), append(sn.deleted, deleted)
		if f != nil {
			sn.inFeed = append(sn.inFeed, in)
		}
		return id, nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", t.Name, err)
	}
	if f != nil {
		sn.matched = make([]bool, len(sn.deleted))
	}
	return sn, nil
}

// Seal tells st, once every fetched row was diffed against the snapshot,
// whether every live row of the scope's feed was fetched again: then no
// row is missing and the tombstone step reads nothing (a million live keys
// for a large org's members).
func (sn *Snapshot) Seal(st *Staged) {
	if sn.feed == nil {
		return
	}
	for i, in := range sn.inFeed {
		if in && !sn.deleted[i] && !sn.matched[i] {
			return
		}
	}
	st.allFetched = sn.feed
}

// scanPages runs sel (a SELECT ending in its WHERE conditions) page by
// page in the order of key: the first page from the start ("" included),
// each later one after the last key read, so that every page is one seek
// into the index. row scans one row and returns its key.
func (s *Store) scanPages(ctx context.Context, sel, key string, args []any, row func(scan func(...any) error) (string, error)) error {
	last, first := "", true
	for {
		q, pargs := sel+` ORDER BY `+key+` LIMIT ?`, append(append([]any{}, args...), snapshotPage)
		if !first {
			q, pargs = sel+` AND `+key+` > ? ORDER BY `+key+` LIMIT ?`, append(append([]any{}, args...), last, snapshotPage)
		}
		rows, err := s.db.QueryContext(ctx, q, pargs...)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			id, err := row(rows.Scan)
			if err != nil {
				rows.Close()
				return err
			}
			if !first && id <= last {
				rows.Close()
				return fmt.Errorf("keys out of order at %q", id)
			}
			last, first = id, false
			n++
		}
		first = false
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n < snapshotPage {
			return nil
		}
	}
}

// Diff classifies rows of the snapshot's table and org, as Store.Diff does,
// without a mirror read.
func (sn *Snapshot) Diff(_ context.Context, rows []schema.Row) ([]Kind, error) {
	kinds := make([]Kind, len(rows))
	for i, r := range rows {
		keys := r.KeyValues()
		j, ok := sn.ids.search(keys[len(keys)-1])
		if ok && sn.matched != nil {
			sn.matched[j] = true
		}
		switch {
		case !ok:
			kinds[i] = New
		case sn.deleted[j]:
			kinds[i] = Revived
		case sn.hashes[j] == hashBytes(rowHash(r.Values(), r.Remote())):
			kinds[i] = Unchanged
		default:
			kinds[i] = Changed
		}
	}
	return kinds, nil
}

// UsageSnapshot is the usage counters the mirror holds for one org and day,
// by database id ("" for the org total), read and held like a Snapshot.
type UsageSnapshot struct {
	ids      []string // sorted
	counters []usageCounters
}

// UsageSnapshot reads an org's usage rows of one day, in pages.
func (s *Store) UsageSnapshot(ctx context.Context, account, org, day string) (*UsageSnapshot, error) {
	sn := &UsageSnapshot{}
	err := s.scanPages(ctx, `SELECT database_id, rows_read, rows_written, storage_bytes, bytes_synced FROM usage
		WHERE account_id = ? AND organization_id = ? AND day = ?`, "database_id",
		[]any{account, org, day}, func(scan func(...any) error) (string, error) {
			var id string
			var c usageCounters
			if err := scan(&id, &c.rr, &c.rw, &c.sb, &c.bs); err != nil {
				return "", err
			}
			sn.ids, sn.counters = append(sn.ids, id), append(sn.counters, c)
			return id, nil
		})
	if err != nil {
		return nil, fmt.Errorf("usage snapshot: %w", err)
	}
	return sn, nil
}

// Diff classifies usage rows of the snapshot's org and day: new when the
// mirror has none for the database, changed when a counter differs.
func (sn *UsageSnapshot) Diff(_ context.Context, us []schema.Usage) ([]Kind, error) {
	kinds := make([]Kind, len(us))
	for i, u := range us {
		j, ok := slices.BinarySearch(sn.ids, u.DatabaseID)
		switch {
		case !ok:
			kinds[i] = New
		case sn.counters[j] == countersOf(u):
			kinds[i] = Unchanged
		default:
			kinds[i] = Changed
		}
	}
	return kinds, nil
}
