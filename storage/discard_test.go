package storage

import (
	"context"
	"path/filepath"
	"testing"
)

// Discarding a batch's stage rows never removes another batch's, whether the
// table is emptied at once (only this batch's rows) or row by row.
func TestDiscardLeavesAnotherPlansStageRows(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, "file:"+filepath.Join(t.TempDir(), "m.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cols := []string{"stage_id", "account_id", "k1", "k2"}
	count := func(p *txBatch) int {
		var n int
		q := `SELECT count(*) FROM stage_keys WHERE stage_id >= ? AND stage_id < ?`
		if err := st.db.QueryRowContext(ctx, q, p.base+"/", p.base+"0").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	a, b := st.newTxBatch("acme", 1, false), st.newTxBatch("other", 2, false)
	for i, p := range []*txBatch{a, b} {
		p.streaming = true // as a large batch: rows staged ahead of the commit
		for k := 0; k < 3+i; k++ {
			if err := p.stage(ctx, "stage_keys", cols, p.base+"/members:t", p.account, "k", string(rune('a'+k))); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.flushAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a.discard(ctx)
	if count(a) != 0 || count(b) != 4 {
		t.Fatalf("after discarding a: a has %d stage rows (want 0), b %d (want 4)", count(a), count(b))
	}
	b.discard(ctx)
	var n int
	if err := st.db.QueryRowContext(ctx, `SELECT count(*) FROM stage_keys`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after discarding both: %d stage rows, %v", n, err)
	}
}
