package storage

import (
	"context"

	"github.com/tursync/tursync/schema"
)

// RowStager stages a large scope's entity rows as the API's pages arrive:
// each page is diffed against the snapshot of the mirror read for the
// scope, counted, and only the rows to write, and the key of every row,
// are kept, spilled to disk past a few MiB, so memory holds a page
// whatever the org's size.
type RowStager struct {
	snap                 *Snapshot
	st                   Staged
	fresh, changed, keys *spill
	// prefix is the key columns before the last one (the org), the same
	// for every row of a scope; only the last is spilled.
	prefix []string
	t      *schema.Table
}

// NewRowStager stages rows against snap, spilling into dir ("" is the
// system's temporary directory).
func NewRowStager(snap *Snapshot, dir string) *RowStager {
	return &RowStager{snap: snap, fresh: newSpill(dir), changed: newSpill(dir), keys: newSpill(dir)}
}

// Page diffs and stages one page of rows; taken[i] is false for a row
// whose key an earlier row of the scope had (the first one wins).
func (g *RowStager) Page(ctx context.Context, rows []schema.Row) (taken []bool, err error) {
	kinds, err := g.snap.Diff(ctx, rows)
	if err != nil {
		return nil, err
	}
	taken = make([]bool, len(rows))
	for i, r := range rows {
		keys := r.KeyValues()
		if !g.st.Count(r.Table(), keys, kinds[i]) {
			continue
		}
		taken[i] = true
		if g.t == nil {
			g.t, g.prefix = r.Table(), keys[:len(keys)-1]
		}
		if err := g.keys.writeString(keys[len(keys)-1]); err != nil {
			return nil, err
		}
		switch kinds[i] {
		case New:
			err = g.fresh.writeRow(r)
		case Changed, Revived:
			err = g.changed.writeRow(r)
		}
		if err != nil {
			return nil, err
		}
	}
	return taken, nil
}

// Finish returns the staged scope, once every page was staged.
func (g *RowStager) Finish() (*Staged, error) {
	for _, sp := range []*spill{g.fresh, g.changed, g.keys} {
		if err := sp.finish(); err != nil {
			return nil, err
		}
	}
	st := &g.st
	st.Finish()
	g.snap.Seal(st)
	st.New, st.Changed = spillRows(g.fresh), spillRows(g.changed)
	t, prefix, keys := g.t, g.prefix, g.keys
	st.Keys = func(yield func(t *schema.Table, keys []string) error) error {
		return spillStrings(keys, func(k string) error { return yield(t, append(prefix[:len(prefix):len(prefix)], k)) })
	}
	return st, nil
}

// Remove frees the stager's spill files, once the scope is written or
// given up.
func (g *RowStager) Remove() {
	for _, sp := range []*spill{g.fresh, g.changed, g.keys} {
		sp.remove()
	}
}

// RowSpill keeps rows to write (the users members refer to) the way a
// RowStager keeps a scope's.
type RowSpill struct{ sp *spill }

// NewRowSpill spills into dir.
func NewRowSpill(dir string) *RowSpill { return &RowSpill{sp: newSpill(dir)} }

// Add keeps a row.
func (s *RowSpill) Add(r schema.Row) error { return s.sp.writeRow(r) }

// Rows returns the rows kept, once every row was added.
func (s *RowSpill) Rows() (RowIter, error) { return spillRows(s.sp), s.sp.finish() }

// Remove frees the spill file.
func (s *RowSpill) Remove() { s.sp.remove() }

// UsageStager stages the usage scope as its pages are decoded: new and
// changed counters only, against the day's snapshot.
type UsageStager struct {
	snap           *UsageSnapshot
	fresh, changed *spill
	unchanged      int
}

// NewUsageStager stages usage against snap, spilling into dir.
func NewUsageStager(snap *UsageSnapshot, dir string) *UsageStager {
	return &UsageStager{snap: snap, fresh: newSpill(dir), changed: newSpill(dir)}
}

// Page diffs and stages one page of usage rows.
func (g *UsageStager) Page(ctx context.Context, rows []schema.Usage) error {
	kinds, err := g.snap.Diff(ctx, rows)
	if err != nil {
		return err
	}
	for i, row := range rows {
		switch kinds[i] {
		case New:
			err = g.fresh.writeUsage(row)
		case Changed:
			err = g.changed.writeUsage(row)
		default:
			g.unchanged++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Finish returns the staged usage, once every page was staged.
func (g *UsageStager) Finish() (*StagedUsage, error) {
	for _, sp := range []*spill{g.fresh, g.changed} {
		if err := sp.finish(); err != nil {
			return nil, err
		}
	}
	fresh, changed := g.fresh, g.changed
	return &StagedUsage{Unchanged: g.unchanged,
		New:     func(yield func(schema.Usage) error) error { return spillUsage(fresh, yield) },
		Changed: func(yield func(schema.Usage) error) error { return spillUsage(changed, yield) }}, nil
}

// Remove frees the stager's spill files.
func (g *UsageStager) Remove() {
	g.fresh.remove()
	g.changed.remove()
}
