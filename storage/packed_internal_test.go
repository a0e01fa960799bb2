package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// Packed rows unpack server-side to the values, and the types, the same
// rows bound as parameters give.
func TestPackedRowsUnpackAsBound(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, "file:"+filepath.Join(t.TempDir(), "m.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.db.ExecContext(ctx, `CREATE TABLE t (a, b, c)`); err != nil {
		t.Fatal(err)
	}
	s := "x"
	rows := []any{
		"plain", "quote \" back\\slash", "tab\tnewline\n\x01 é 漢 🙂",
		int64(9007199254740993), -7, 3.5,
		2.0, nil, true,
		false, &s, (*string)(nil),
		"", "123", `{"json":"text"}`,
	}
	packed, ok := packedInsert(`INSERT INTO t (a, b, c)`, 3, rows)
	if !ok {
		t.Fatal("rows not packed")
	}
	bound := insertRows(`t (a, b, c)`, [][]any{rows[0:3], rows[3:6], rows[6:9], rows[9:12], rows[12:15]})
	read := func() []string {
		t.Helper()
		res, err := st.db.QueryContext(ctx, `SELECT a, typeof(a), b, typeof(b), c, typeof(c) FROM t ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		var out []string
		for res.Next() {
			v := make([]any, 6)
			p := make([]any, 6)
			for i := range v {
				p[i] = &v[i]
			}
			if err := res.Scan(p...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%q", v))
		}
		return out
	}
	for _, st2 := range []stmt{packed, bound[0]} {
		if _, err := st.db.ExecContext(ctx, st2.q, st2.args...); err != nil {
			t.Fatal(err)
		}
	}
	got := read()
	if len(got) != 10 {
		t.Fatalf("%d rows, want 10", len(got))
	}
	for i := range 5 {
		if got[i] != got[i+5] {
			t.Errorf("row %d packed %s, bound %s", i, got[i], got[i+5])
		}
	}
	if _, ok := packedInsert(`INSERT INTO t (a)`, 1, []any{[]byte{0xff}}); ok {
		t.Error("a blob was packed; it has no exact JSON form")
	}
}
