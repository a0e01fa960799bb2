// Package testwait polls a condition until it holds. Its bound is a hang
// detector, not a timing assertion: no test fails on how fast the machine
// is.
package testwait

import (
	"testing"
	"time"
)

// Bound is how long a condition may take before the test fails as hung.
const Bound = 2 * time.Minute

// Until polls cond until it holds; the test fails after Bound.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	UntilSays(t, what, func() (bool, string) { return cond(), "" })
}

// UntilSays polls cond until it holds; when the test fails after Bound,
// it says what cond last reported.
func UntilSays(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(Bound)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
