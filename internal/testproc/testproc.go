// Package testproc gives tests the pids of processes in known states, for
// code that tells a leftover of a dead process from one of a live one
// (spill files, leases).
package testproc

import (
	"os/exec"
	"testing"
)

// Pids returns the pid of a process that has ended and of one that runs
// until the test ends.
func Pids(t testing.TB) (ended, running int) {
	t.Helper()
	e := exec.Command("true")
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	r := exec.Command("sleep", "600")
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Process.Kill()
		_ = r.Wait()
	})
	return e.Process.Pid, r.Process.Pid
}
