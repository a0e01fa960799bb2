// Package testlong marks the long tests (the fault matrix, the kill
// loops): `go test ./...` skips them, saying how to run them, and .ci/run
// runs them with Env set, so they never go unrun there.
package testlong

import (
	"os"
	"testing"
)

// Env, set to 1, runs the long tests.
const Env = "TURSYNC_LONG"

// Skip skips a long test unless Env is 1.
func Skip(t testing.TB) {
	t.Helper()
	if os.Getenv(Env) != "1" {
		t.Skipf("a long test: set %s=1 to run it (.ci/run does)", Env)
	}
}
