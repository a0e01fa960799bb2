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

// usage is the global help.
var usage = globalUsage()

// Run runs the command named by args[0]. Under --output json, an error
// that reaches here before the command printed anything is one JSON
// document on stdout as well.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return &UsageError{Msg: "no command given"}
	}
	out := &countingWriter{w: m.Stdout}
	stdout := m.Stdout
	m.Stdout = out
	defer func() { m.Stdout = stdout }()
	err := m.dispatch(ctx, args[0], args[1:])
	if err != nil && !errors.Is(err, errHelp) && out.n == 0 && wantsJSON(args) {
		_ = writeJSON(stdout, errorDocument(err))
	}
	return err
}

// dispatch runs one subcommand.
func (m *Main) dispatch(ctx context.Context, cmd string, rest []string) error {
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
	case "accounts":
		return m.runAccounts(ctx, rest)
	case "policy":
		return m.runPolicy(ctx, rest)
	case "export":
		return m.runExport(ctx, rest)
	case "migrate":
		return m.runMigrate(ctx, rest)
	case "check":
		return m.runCheck(ctx, rest)
	case "simulate":
		return m.runSimulate(ctx, rest)
	case "schema":
		return m.runSchema(ctx, rest)
	case "version", "--version", "-version":
		return m.runVersion(ctx, rest)
	case "help", "-h", "--help":
		return m.runHelp(ctx, rest)
	}
	fmt.Fprint(m.Stderr, usage)
	return &UsageError{Msg: fmt.Sprintf("unknown command %q (run 'tursync help' for the list)", cmd)}
}

// runVersion prints the build's version, commit, Go version and the API
// client's User-Agent.
func (m *Main) runVersion(_ context.Context, args []string) error {
	fs := m.flags("version")
	output := outputFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if *output == "json" {
		return writeJSON(m.Stdout, map[string]string{"version": version, "commit": buildCommit(), "go": runtime.Version(), "user_agent": turso.UserAgent()})
	}
	fmt.Fprintf(m.Stdout, "tursync %s\ncommit %s\n%s\nuser-agent %s\n", version, buildCommit(), runtime.Version(), turso.UserAgent())
	return nil
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

// exitCode maps an error to the exit codes (docs/style.md) and prints it.
func exitCode(err error, stderr io.Writer) int {
	code := codeOf(err)
	if code != 0 && !errors.Is(err, ErrSyncFailed) && !errors.Is(err, ErrExtractFailed) && !errors.Is(err, ErrWebhookFailed) && !errors.Is(err, ErrPolicyViolated) && !errors.Is(err, ErrExportFailed) {
		fmt.Fprintln(stderr, "tursync:", err) // a summary already said what failed otherwise
	}
	return code
}

// codeOf is an error's exit code: 0, 1 (something failed), 2 (usage or
// config).
func codeOf(err error) int {
	if err == nil || errors.Is(err, errHelp) {
		return 0
	}
	var ue *UsageError
	var ce *ConfigError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return 2
	}
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
