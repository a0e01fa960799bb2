package storage

import (
	"encoding/json"
	"testing"
)

// appendValues writes exactly json.Marshal's bytes whenever it says it
// can, so content hashes stay what the mirror holds.
func FuzzAppendValuesMatchesJSON(f *testing.F) {
	f.Add("db-000001", "aws-us-east-1", int64(3), true, "")
	f.Add("a<b>&\"c\\", "é\u2028\x7f", int64(-1), false, "\x00")
	f.Add(`["aws-us-east-1","aws-eu-west-1"]`, `a\\b`, int64(0), true, "<&>")
	f.Fuzz(func(t *testing.T, a, b string, n int64, null bool, c string) {
		vals := []any{a, b, n, int(n), c}
		if null {
			vals = append(vals, nil)
		}
		want, err := json.Marshal(vals)
		if err != nil {
			t.Skip()
		}
		got, ok := appendValues(nil, vals)
		if ok && string(got) != string(want) {
			t.Fatalf("appendValues(%q) = %s, json.Marshal = %s", vals, got, want)
		}
		if !ok && printableASCII(a) && printableASCII(b) && printableASCII(c) {
			t.Fatalf("appendValues refused printable ASCII values %q", vals)
		}
	})
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
