package storage

import (
	"fmt"
	"testing"
)

// The set answers exactly like a map across growth, for keys that differ
// only late, empty keys and keys longer than one uvarint byte of length.
func TestKeySetMatchesAMap(t *testing.T) {
	s, want := newKeySet(), map[string]bool{}
	key := func(i int) string {
		switch i % 4 {
		case 0:
			return ""
		case 1:
			return fmt.Sprintf("role_assignments\x00org1\x00user%06d", i)
		case 2:
			return fmt.Sprintf("%0200d", i) // a 2-byte length prefix
		}
		return fmt.Sprint(i)
	}
	for i := 0; i < 20000; i++ {
		k := key(i)
		if got := s.add(k); got != !want[k] {
			t.Fatalf("add(%q) = %v, want %v", k, got, !want[k])
		}
		want[k] = true
		if i%3 == 0 && s.add(k) {
			t.Fatalf("re-adding %q reported it new", k)
		}
	}
	if s.n != len(want) {
		t.Fatalf("len = %d, want %d", s.n, len(want))
	}
	for i := 0; i < 40000; i++ {
		k := key(i)
		if s.has(k) != want[k] {
			t.Fatalf("has(%q) = %v, want %v", k, s.has(k), want[k])
		}
	}
	var nilSet *keySet
	if nilSet.has("x") || newKeySet().has("") {
		t.Fatal("an empty set holds a key")
	}
}
