// Package testbin finds the external programs that integration tests start
// (Prometheus, promtool), skipping where they are absent, except in CI.
package testbin

import (
	"os"
	"os/exec"
	"testing"
)

// RequireEnv, set to 1, turns a missing program into a test failure: CI
// sets it so the integration tests can never silently skip there.
const RequireEnv = "TURSYNC_REQUIRE_PROMETHEUS"

// Find returns the path of the named program, or skips the test (fails it
// when RequireEnv is 1) when it is not installed.
func Find(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s is required (%s=1) but not found: %v", name, RequireEnv, err)
		}
		t.Skipf("%s not installed (Debian package prometheus); skipping", name)
	}
	return p
}
