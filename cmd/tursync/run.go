package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	stdsync "sync"
	"syscall"
	"time"

	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
)

// Build information, stamped with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

// Main is the program, with its environment injected for tests.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	// Exit ends the process at once: the daemon's answer to a second
	// SIGTERM.
	Exit func(code int)

	ownerOnce stdsync.Once
	ownerName string
}

// owner names this process in the mirror's leases, the same for every
// pass and reload.
func (m *Main) owner() string {
	m.ownerOnce.Do(func() { m.ownerName = storage.NewOwner() })
	return m.ownerName
}

// wiring is what loading the config and building stores, accounts,
// clients and options needs of the process: its environment, its clock and
// its lease owner. Commands take it from Main; the daemon keeps a copy
// rather than a pointer back to Main.
type wiring struct {
	getenv func(string) string
	now    func() time.Time
	owner  string
}

func (m *Main) wiring() wiring { return wiring{getenv: m.Getenv, now: m.Now, owner: m.owner()} }

// NewMain returns a Main wired to the process.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now, Exit: os.Exit}
}

// UsageError is a bad command line; the command exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// errHelp ends a command whose -h printed its flags: exit 0.
var errHelp = errors.New("help printed")

// ErrSyncFailed means a pass ran but a scope or account failed; exit 1.
var ErrSyncFailed = errors.New("sync failed")

// ErrExtractFailed means an extraction ran but a database failed; exit 1.
var ErrExtractFailed = errors.New("extraction failed")

const usage = `tursync keeps a SQL mirror of Turso organizations.

Usage: tursync <command> [flags]

Commands:
  demo       sync a bundled simulated Turso API into a local mirror
  run        the daemon: scheduled passes, /metrics, /healthz, /readyz, /status
  sync       one pass now, then exit
  extract    run the extract queries inside every selected tenant database now, then exit
  migrate    apply or list the mirror's schema migrations
  check      validate the config and each account's token
  simulate   serve the simulated Turso Platform API
  prune      remove the rows of an account no longer configured, or apply retention now
  webhooks   list the webhook endpoints' lag, send a test ping, or replay from an event
  version    print version information

Run 'tursync <command> -h' for a command's flags.
`

// Run runs the command named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return &UsageError{Msg: "no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return m.runDemo(ctx, rest)
	case "run":
		return m.runDaemon(ctx, rest)
	case "sync":
		return m.runSync(ctx, rest)
	case "extract":
		return m.runExtract(ctx, rest)
	case "prune":
		return m.runPrune(ctx, rest)
	case "webhooks":
		return m.runWebhooks(ctx, rest)
	case "migrate":
		return m.runMigrate(ctx, rest)
	case "check":
		return m.runCheck(ctx, rest)
	case "simulate":
		return m.runSimulate(ctx, rest)
	case "version":
		fmt.Fprintf(m.Stdout, "tursync %s\ncommit %s\n%s\nuser-agent %s\n", version, buildCommit(), runtime.Version(), turso.UserAgent())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	fmt.Fprint(m.Stderr, usage)
	return &UsageError{Msg: fmt.Sprintf("unknown command %q", cmd)}
}

func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// interruptedExit is the exit code of a command a signal stopped, 128 plus
// the signal's number as shells report it (130 for SIGINT, 143 for
// SIGTERM), or code when no signal stopped it or it ended well anyway.
func interruptedExit(ctx context.Context, code int) int {
	var in *tsync.Interrupted
	if code == 0 || !errors.As(context.Cause(ctx), &in) {
		return code
	}
	switch in.By {
	case "SIGINT":
		return 130
	case "SIGTERM":
		return 143
	}
	return code
}

// signalName is how an Interrupted names a signal.
func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// exitCode maps an error to the exit codes of PRODUCT.md and prints it.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelp) {
		return 0
	}
	var ue *UsageError
	var ce *ConfigError
	switch {
	case errors.As(err, &ue), errors.As(err, &ce):
		fmt.Fprintln(stderr, "tursync:", err)
		return 2
	case errors.Is(err, ErrSyncFailed), errors.Is(err, ErrExtractFailed), errors.Is(err, ErrWebhookFailed):
		return 1 // the summary already said what failed
	}
	fmt.Fprintln(stderr, "tursync:", err)
	return 1
}

// newLogger builds the one logger of the process: JSON when stderr is not a
// terminal (log.format auto), text otherwise.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
