// Command tursync keeps a SQL mirror of Turso organizations.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	args := os.Args[1:]
	ctx, stop := context.Background(), func() {}
	// The daemon handles its own signals (the first drains, the second
	// exits at once). A second handler here would hand it every signal
	// twice, and one SIGTERM would look like two.
	if len(args) == 0 || args[0] != "run" {
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	}
	stopProfile := startProfile(os.Getenv("TURSYNC_CPUPROFILE"))
	err := NewMain().Run(ctx, args)
	stopProfile()
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// startProfile writes a CPU profile of the command to path when it is set
// (TURSYNC_CPUPROFILE, docs/PERFORMANCE.md: how the profiles were taken).
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tursync: TURSYNC_CPUPROFILE:", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
