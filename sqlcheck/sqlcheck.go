// Package sqlcheck decides whether a statement a user wrote may run as a
// read: one SELECT (or WITH ... SELECT, or VALUES), nothing that writes,
// loads code or reads files, bounded in size and nesting. Cross-tenant
// extraction checks its queries with it before any tenant database sees
// them, and policies theirs before the mirror does.
package sqlcheck

import (
	"errors"
	"fmt"
	"strings"
)

// Check accepts exactly one statement that reads: a SELECT, VALUES, or
// a WITH whose main statement is a SELECT. Anything else (a write, DDL, a
// PRAGMA, a second statement) is refused before any database is queried;
// the read-only token refuses writes again inside each database, and the
// statement runs wrapped in SELECT * FROM (...), which SQLite parses only
// for a query.
func Check(sql string) error {
	if len(sql) > MaxBytes {
		return fmt.Errorf("the statement is %d bytes; at most %d", len(sql), MaxBytes)
	}
	toks, err := lex(sql)
	if err != nil {
		return err
	}
	for len(toks) > 0 && toks[len(toks)-1] == ";" {
		toks = toks[:len(toks)-1]
	}
	if len(toks) == 0 {
		return errors.New("the statement is empty")
	}
	depth := 0
	for _, t := range toks {
		switch t {
		case "(":
			depth++
			if depth > MaxDepth {
				return fmt.Errorf("parentheses nest deeper than %d", MaxDepth)
			}
		case ")":
			depth--
			// A ')' with no '(' of its own would close the wrapper's
			// parenthesis (bounded) and let a second query run after it.
			if depth < 0 {
				return errors.New("unbalanced parentheses: a ')' closes nothing")
			}
		case ";":
			return errors.New("want one statement; this has more (a ';' before the end)")
		default:
			if f, ok := refusedFunctions[strings.ToLower(t)]; ok {
				return fmt.Errorf("%s is refused: %s", strings.ToLower(t), f)
			}
		}
	}
	if depth != 0 {
		return errors.New("unbalanced parentheses")
	}
	switch first := strings.ToUpper(toks[0]); first {
	case "SELECT", "VALUES":
		return nil
	case "WITH":
		return checkWith(toks[1:])
	default:
		return fmt.Errorf("want a SELECT or WITH statement, not %s", first)
	}
}

// Bounds on a statement: no report needs more, and a parser
// fed a 10 MB statement or 100,000 nested parentheses spends its time and
// stack on the tenant's server.
const (
	MaxBytes = 64 << 10
	MaxDepth = 64
)

// refusedFunctions are names a read-only statement has no business
// calling, whatever the token allows: they read raw pages (freed ones
// included), load code, touch the server's files or register tokenizers.
var refusedFunctions = map[string]string{
	"sqlite_dbpage":  "it reads the database's raw pages, freed ones included",
	"load_extension": "it loads code into the server",
	"readfile":       "it reads the server's files",
	"writefile":      "it writes the server's files",
	"fts3_tokenizer": "it registers a tokenizer by pointer",
}

// checkWith walks the common table expressions after WITH and checks that
// the statement they lead to is a SELECT (a WITH may also lead to an
// INSERT, UPDATE or DELETE).
func checkWith(toks []string) error {
	i := 0
	if i < len(toks) && strings.EqualFold(toks[i], "RECURSIVE") {
		i++
	}
	for {
		i++ // the table name
		if i < len(toks) && toks[i] == "(" {
			i = skipGroup(toks, i)
		}
		if i >= len(toks) || !strings.EqualFold(toks[i], "AS") {
			return errors.New("WITH: want name AS (query)")
		}
		i++
		for i < len(toks) && (strings.EqualFold(toks[i], "NOT") || strings.EqualFold(toks[i], "MATERIALIZED")) {
			i++
		}
		if i >= len(toks) || toks[i] != "(" {
			return errors.New("WITH: want name AS (query)")
		}
		i = skipGroup(toks, i)
		if i < len(toks) && toks[i] == "," {
			i++
			continue
		}
		break
	}
	if i < len(toks) {
		if kw := strings.ToUpper(toks[i]); kw == "SELECT" || kw == "VALUES" {
			return nil
		} else if kw != "" {
			return fmt.Errorf("WITH leads to %s; want a SELECT", kw)
		}
	}
	return errors.New("WITH leads to no SELECT")
}

// skipGroup returns the index after the parenthesised group opening at i.
func skipGroup(toks []string, i int) int {
	depth := 0
	for ; i < len(toks); i++ {
		switch toks[i] {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return i
}

// lex splits SQL into words and punctuation, dropping comments and
// reducing quoted strings and identifiers to one placeholder token, so a
// keyword or ';' inside them counts for nothing.
func lex(sql string) ([]string, error) {
	toks, _, err := lexEnds(sql)
	return toks, err
}

// lexEnds is lex, with the byte offset where each token ends.
func lexEnds(sql string) ([]string, []int, error) {
	var out []string
	var ends []int
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				return out, ends, nil
			}
			i += end + 1
		case strings.HasPrefix(sql[i:], "/*"):
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return nil, nil, errors.New("unterminated /* comment")
			}
			i += end + 4
		case c == '\'' || c == '"' || c == '`' || c == '[':
			closer := c
			if c == '[' {
				closer = ']'
			}
			j := i + 1
			for ; j < len(sql); j++ {
				if sql[j] == closer {
					if closer != ']' && j+1 < len(sql) && sql[j+1] == closer {
						j++ // a doubled quote is part of the string
						continue
					}
					break
				}
			}
			if j >= len(sql) {
				return nil, nil, fmt.Errorf("unterminated %c", c)
			}
			out, ends = append(out, "''"), append(ends, j+1)
			i = j + 1
		case isWord(c):
			j := i
			for j < len(sql) && isWord(sql[j]) {
				j++
			}
			out, ends = append(out, sql[i:j]), append(ends, j)
			i = j
		default:
			out, ends = append(out, string(c)), append(ends, i+1)
			i++
		}
	}
	return out, ends, nil
}

func isWord(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// Bounded is the statement as it runs: wrapped so that the database itself
// stops after limit rows and parses nothing but a query. What follows its
// last token but trailing ';' (the separators, comments after them) is cut,
// since it would land inside the parentheses.
func Bounded(sql string, limit int) string {
	s := strings.TrimSpace(sql)
	if toks, ends, err := lexEnds(s); err == nil {
		n := len(toks)
		for n > 0 && toks[n-1] == ";" {
			n--
		}
		if n > 0 {
			s = s[:ends[n-1]]
		}
	}
	return fmt.Sprintf("SELECT * FROM (%s\n) LIMIT %d", s, limit)
}
