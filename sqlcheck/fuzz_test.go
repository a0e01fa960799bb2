package sqlcheck

import (
	"strings"
	"testing"
)

// FuzzCheck: whatever the text, Check does not panic, and what it
// accepts begins with SELECT, VALUES or WITH, holds no statement separator
// before its end, and keeps its shape once bounded (the wrapper adds no
// separator of its own).
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"select 1", "with t as (select 1) select * from t", "values (1)", "select ';' -- ;\n",
		"with t as (select 1) delete from x", "select 1; drop table x", `select "a;b" from [t;]`, "/* x */ select 1;", "select 1; -- done",
		"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c) SELECT n FROM c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if Check(sql) != nil {
			return
		}
		toks, err := lex(sql)
		if err != nil {
			t.Fatalf("accepted %q that does not lex: %v", sql, err)
		}
		if kw := strings.ToUpper(toks[0]); kw != "SELECT" && kw != "VALUES" && kw != "WITH" {
			t.Fatalf("accepted %q beginning with %s", sql, kw)
		}
		for len(toks) > 0 && toks[len(toks)-1] == ";" {
			toks = toks[:len(toks)-1]
		}
		for _, tok := range toks {
			if tok == ";" {
				t.Fatalf("accepted %q with a separator before its end", sql)
			}
		}
		wrapped, err := lex(Bounded(sql, 10))
		if err != nil {
			t.Fatalf("bounded %q does not lex: %v", sql, err)
		}
		depth, closes := 0, 0
		for _, tok := range wrapped {
			switch tok {
			case ";":
				t.Fatalf("bounded %q holds a separator: %q", sql, Bounded(sql, 10))
			case "(":
				depth++
			case ")":
				depth--
				if depth == 0 {
					closes++
				}
			}
			if depth < 0 {
				t.Fatalf("bounded %q closes more than it opens: %q", sql, Bounded(sql, 10))
			}
		}
		// Everything at the top level but the wrapper's own group: the
		// statement never steps out of it.
		if closes > 1 {
			t.Fatalf("bounded %q steps out of the wrapper: %q", sql, Bounded(sql, 10))
		}
	})
}
