// Command tursync keeps a SQL mirror of Turso organizations.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	tsync "github.com/tursync/tursync/sync"
)

func main() {
	args := os.Args[1:]
	ctx, stop := context.Background(), func() {}
	// The daemon handles its own signals (the first drains, the second
	// exits at once). A second handler here would hand it every signal
	// twice, and one SIGTERM would look like two.
	if len(args) == 0 || args[0] != "run" {
		ctx, stop = interruptible(ctx)
	}
	stopProfile := startProfile(os.Getenv("TURSYNC_CPUPROFILE"))
	err := NewMain().Run(ctx, args)
	stopProfile()
	stop()
	os.Exit(interruptedExit(ctx, exitCode(err, os.Stderr)))
}

// interruptible cancels ctx at the first SIGINT or SIGTERM, with the
// signal as the cause (a pass then records itself interrupted); a second
// one ends the process at once, as the signal's default does.
func interruptible(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			cancel(&tsync.Interrupted{By: signalName(s)})
		case <-done:
		}
	}()
	return ctx, func() { signal.Stop(sigs); close(done); cancel(nil) }
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
