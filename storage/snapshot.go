package storage

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

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

// tableSnapshot reads the org's rows of t, a table keyed (organization_id, x);
// or, for an account-wide table keyed by one column (users), the
// account's rows, org being ignored.
func (s *Store) tableSnapshot(ctx context.Context, account, org string, t *schema.Table) (*Snapshot, error) {
	return s.snapshot(ctx, account, org, t, nil)
}

// scopeSnapshot reads the org's rows of the table a scope fills (its
// guarded feed: databases, or role assignments for members), marking those
// of the feed, so that Seal can tell the tombstone step that every live row
// was fetched again.
func (s *Store) scopeSnapshot(ctx context.Context, account, org, resource string) (*Snapshot, error) {
	if r := schema.Lookup(resource); r != nil {
		if f := r.Table(); f.Table != nil {
			return s.snapshot(ctx, account, org, f.Table, &f)
		}
	}
	return nil, fmt.Errorf("snapshot of %s: the scope fills no table", resource)
}

func (s *Store) snapshot(ctx context.Context, account, org string, t *schema.Table, f *feed) (*Snapshot, error) {
	inFeed := "1"
	if f != nil && f.Filter != "" {
		inFeed = f.Filter
	}
	key := t.Keys[len(t.Keys)-1]
	cols := []string{key, "content_hash", "deleted_at IS NOT NULL", inFeed}
	from := `FROM ` + t.Quoted() + ` WHERE account_id = ?`
	args := []any{account}
	switch {
	case len(t.Keys) == 2 && t.Keys[0] == "organization_id":
		from += ` AND organization_id = ?`
		args = append(args, org)
	case len(t.Keys) != 1:
		return nil, fmt.Errorf("snapshot of %s: neither org-keyed nor keyed by one column", t.Name)
	}
	sn := &Snapshot{t: t, feed: f}
	err := s.scanPages(ctx, cols, from, key, args, func(scan func(...any) error) (string, error) {
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

// scanPages reads cols from the rows of from (a FROM clause ending in its
// WHERE conditions) page by page in the order of key: the first page from
// the start ("" included), each later one after the last key read, so that
// every page is one seek into the index. row scans one row and returns its
// key.
func (s *Store) scanPages(ctx context.Context, cols []string, from, key string, args []any, row func(scan func(...any) error) (string, error)) error {
	last, first := "", true
	for {
		q, pargs := `SELECT `+aliased(cols)+` `+from, append([]any{}, args...)
		if !first {
			q, pargs = q+` AND `+key+` > ?`, append(pargs, last)
		}
		q, pargs = q+` ORDER BY `+key+` LIMIT ?`, append(pargs, snapshotPage)
		next := s.queryPage
		if s.remote {
			next = s.queryPacked
		}
		n := 0
		err := next(ctx, q, len(cols), pargs, func(scan func(...any) error) error {
			id, err := row(scan)
			if err != nil {
				return err
			}
			if !first && id <= last {
				return fmt.Errorf("keys out of order at %q", id)
			}
			last, first = id, false
			n++
			return nil
		})
		if err != nil {
			return err
		}
		first = false
		if n < snapshotPage {
			return nil
		}
	}
}

// queryPage runs one page's query and hands each row to fn.
func (s *Store) queryPage(ctx context.Context, q string, _ int, args []any, fn func(scan func(...any) error) error) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// queryPacked runs one page's query on a libSQL server, which sends the
// whole page back as one text value: each field of each row as its byte
// length, a colon and its text. A page of 5,000 rows as Hrana JSON values
// ({"type":"text","value":…} per field) cost the client two
// encoding/json passes per field, 70% of an unchanged pass's CPU on a
// large org.
func (s *Store) queryPacked(ctx context.Context, q string, ncols int, args []any, fn func(scan func(...any) error) error) error {
	fields := make([]string, ncols)
	for i := range fields {
		c := fmt.Sprintf("c%d", i)
		fields[i] = `length(CAST(` + c + ` AS BLOB)) || ':' || CAST(` + c + ` AS TEXT)`
	}
	var n int
	var packed sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT count(*), group_concat(`+strings.Join(fields, ` || `)+`, '') FROM (`+q+`)`, args...).Scan(&n, &packed)
	if err != nil {
		return err
	}
	rows, err := unpack(packed.String, ncols)
	if err == nil && len(rows) != n {
		// A NULL field drops its row from group_concat: refuse the page
		// rather than lose a row.
		err = fmt.Errorf("%d rows unpacked of %d", len(rows), n)
	}
	if err != nil {
		return fmt.Errorf("packed page: %w", err)
	}
	// group_concat keeps the subquery's order in practice; SQL does not
	// promise it, so the page is put in key order (the first field).
	if !slices.IsSortedFunc(rows, func(a, b []string) int { return strings.Compare(a[0], b[0]) }) {
		slices.SortFunc(rows, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	}
	for _, r := range rows {
		if err := fn(func(dest ...any) error { return assignFields(r, dest) }); err != nil {
			return err
		}
	}
	return nil
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
		case sn.hashes[j] == rowSum(r.Values(), r.Remote()):
			kinds[i] = Unchanged
		default:
			kinds[i] = Changed
		}
	}
	return kinds, nil
}

// usageSnapshot is the usage counters the mirror holds for one org and day,
// by database id ("" for the org total), read and held like a Snapshot.
type UsageSnapshot struct {
	ids      []string // sorted
	counters []usageCounters
}

// usageSnapshot reads an org's usage rows of one day, in pages.
func (s *Store) usageSnapshot(ctx context.Context, account, org, day string) (*UsageSnapshot, error) {
	sn := &UsageSnapshot{}
	err := s.scanPages(ctx, []string{"database_id", "rows_read", "rows_written", "storage_bytes", "bytes_synced"},
		`FROM usage WHERE account_id = ? AND organization_id = ? AND day = ?`, "database_id",
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

// aliased lists cols as c0, c1, …, the names queryPacked reads them by.
func aliased(cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = fmt.Sprintf("%s AS c%d", c, i)
	}
	return strings.Join(out, ", ")
}

// unpack splits a packed page into rows of ncols fields, each written as
// its byte length, a colon and its bytes.
func unpack(packed string, ncols int) ([][]string, error) {
	var rows [][]string
	for len(packed) > 0 {
		r := make([]string, ncols)
		for i := range r {
			colon := strings.IndexByte(packed, ':')
			if colon <= 0 {
				return nil, errors.New("a field without its length")
			}
			n, err := strconv.Atoi(packed[:colon])
			if err != nil || n < 0 || colon+1+n > len(packed) {
				return nil, fmt.Errorf("a field length %q past the page's end", packed[:colon])
			}
			r[i] = packed[colon+1 : colon+1+n]
			packed = packed[colon+1+n:]
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// assignFields scans a packed row into dest, as rows.Scan does for the
// types snapshots read.
func assignFields(r []string, dest []any) error {
	if len(dest) != len(r) {
		return fmt.Errorf("%d fields into %d destinations", len(r), len(dest))
	}
	for i, d := range dest {
		switch p := d.(type) {
		case *string:
			*p = r[i]
		case *bool:
			*p = r[i] == "1"
		case *int64:
			v, err := strconv.ParseInt(r[i], 10, 64)
			if err != nil {
				return fmt.Errorf("field %d: %w", i, err)
			}
			*p = v
		default:
			return fmt.Errorf("field %d: cannot scan into %T", i, d)
		}
	}
	return nil
}
