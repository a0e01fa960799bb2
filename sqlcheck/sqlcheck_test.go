package sqlcheck

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		sql string
		ok  bool
	}{
		{"select date(created_at) as day, count(*) from orders group by 1", true},
		{"  SELECT 1;  ", true},
		{"values (1), (2)", true},
		{"with t as (select * from orders) select count(*) from t", true},
		{"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < 5), d AS MATERIALIZED (SELECT 2) SELECT * FROM c, d", true},
		{"select ';' as semi, 'drop table x' from orders -- delete\n", true},
		{`select "insert" from t /* ; update */`, true},
		{"select replace(name, 'a', 'b') from t", true},
		{"delete from orders", false},
		{"insert into orders values (1)", false},
		{"with t as (select 1) delete from orders where id in t", false},
		{"with t as (select 1) insert into x select * from t", false},
		{"select 1; drop table orders", false},
		{"pragma table_info(orders)", false},
		{"attach 'x' as y", false},
		{"", false},
		{"-- only a comment", false},
		{"select 'unterminated", false},
		{"select (1", false},
		// The wrapper's parenthesis is the statement's to keep: a ')'
		// closing it would run a second query after it.
		{"select 1 as a) union all select * from (select 2 as a", false},
		{"select 1) ; (select 2", false},
		{"select * from sqlite_dbpage('main')", false},
		{"select * from SQLITE_DBPAGE", false},
		{"select load_extension('x')", false},
		{"select readfile('/etc/passwd')", false},
		{"select writefile('/tmp/x', 'y')", false},
		{"select fts3_tokenizer('simple')", false},
		{"select 'sqlite_dbpage' as name", true}, // a string, not a call
		{"select " + strings.Repeat("(", 64) + "1" + strings.Repeat(")", 64), true},
		{"select " + strings.Repeat("(", 65) + "1" + strings.Repeat(")", 65), false},
		{"select " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000), false},
		{"select '" + strings.Repeat("x", 64<<10) + "'", false},
		{"select '" + strings.Repeat("x", 60<<10) + "'", true},
	} {
		err := Check(c.sql)
		if (err == nil) != c.ok {
			t.Errorf("Check(%.80q) = %v; want ok=%v", c.sql, err, c.ok)
		}
	}
}

func TestBoundedWrapsAndLimits(t *testing.T) {
	got := Bounded("select 1 as a;; ", 11)
	if want := "SELECT * FROM (select 1 as a\n) LIMIT 11"; got != want {
		t.Errorf("bounded = %q, want %q", got, want)
	}
}
