package storage

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// On a libSQL server a staging insert of N rows of M values binds N×M
// parameters, each crossing the wire as its own typed JSON object and
// bound one by one by the server. Packed, the rows travel as one text
// value, a JSON array of rows, which the server unpacks itself with
// json_each: about a third of the bytes on the wire, and one value to
// bind.

// packedInsert is the staging insert of rows (each n values) into the
// table and columns of insert (INSERT INTO t (c1, ...)), packed; ok is
// false when a value has no exact JSON form (a blob), and the caller binds
// the rows as parameters instead.
func packedInsert(insert string, n int, args []any) (stmt, bool) {
	var b strings.Builder
	b.Grow(valuesBytes(args) + 4*len(args))
	b.WriteByte('[')
	for i, v := range args {
		switch {
		case i%n == 0 && i > 0:
			b.WriteString("],[")
		case i%n == 0:
			b.WriteByte('[')
		default:
			b.WriteByte(',')
		}
		if !appendJSON(&b, v) {
			return stmt{}, false
		}
	}
	if len(args) > 0 {
		b.WriteByte(']')
	}
	b.WriteByte(']')
	sel := make([]string, n)
	for i := range sel {
		sel[i] = "value->>" + strconv.Itoa(i)
	}
	return stmt{insert + ` SELECT ` + strings.Join(sel, ", ") + ` FROM json_each(?)`, []any{b.String()}}, true
}

// appendJSON writes v as the JSON value whose ->> is v as SQLite stores it:
// a string as text, an integer as an integer, a float as a real, nil as
// NULL, a bool as 1 or 0.
func appendJSON(b *strings.Builder, v any) bool {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		appendJSONString(b, x)
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case bool:
		if x {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false // no JSON form
		}
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0" // stays a real, as the bound float64 would
		}
		b.WriteString(s)
	case *string:
		if x == nil {
			b.WriteString("null")
		} else {
			appendJSONString(b, *x)
		}
	default:
		return false
	}
	return true
}

// appendJSONString quotes s as a JSON string; the usual text needs no
// escape and is copied as it is.
func appendJSONString(b *strings.Builder, s string) {
	plain := utf8.ValidString(s)
	for i := 0; plain && i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == 0x7f {
			plain = false
		}
	}
	if !plain {
		q, _ := json.Marshal(s) // a string always marshals
		b.Write(q)
		return
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}
