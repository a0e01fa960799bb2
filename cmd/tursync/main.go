// Command tursync keeps a SQL mirror of Turso organizations.
package main

import (
	"context"
	"os"
	"os/signal"
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
	err := NewMain().Run(ctx, args)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}
