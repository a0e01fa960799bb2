package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// command is one subcommand: its synopsis, what it does and its exit
// codes. The global help, `tursync help CMD` and each -h derive from it.
type command struct {
	name     string
	synopsis string // after "tursync "
	summary  string
	exits    []string
}

// Exit codes common to the commands.
const (
	exitUsage     = "2  a usage or config error (a bad flag, a bad or unreadable config, an unknown name)"
	exitInterrupt = "130, 143  interrupted by SIGINT, SIGTERM"
)

// commands are tursync's subcommands, in the order help lists them.
var commands = []command{
	{"demo", "demo [--db PATH] [--seed N]", "sync a bundled simulated Turso API into a local mirror",
		[]string{"0  the pass completed", "1  the pass failed", exitUsage}},
	{"run", "run --config FILE", "the daemon: scheduled passes, /metrics, /healthz, /readyz, /status",
		[]string{"0  stopped by SIGINT or SIGTERM after the passes in flight ended", "1  the daemon could not start or serve (mirror, listener)", exitUsage}},
	{"sync", "sync --config FILE [flags]", "one pass now, then exit",
		[]string{"0  no scope failed (guarded and unavailable are not failures)", "1  a scope or an account failed, or another process holds the account's lease", exitUsage, exitInterrupt}},
	{"extract", "extract --config FILE [flags]", "run the extract queries inside every selected tenant database now, then exit",
		[]string{"0  every database answered or was skipped", "1  a database failed", exitUsage, exitInterrupt}},
	{"migrate", "migrate --config FILE [--status]", "apply or list the mirror's schema migrations",
		[]string{"0  done", "1  the mirror refused", exitUsage}},
	{"check", "check --config FILE [--output json]", "validate the config, the mirror and each account's token",
		[]string{"0  sync would run", "1  sync would fail (the mirror, a token, an unreadable resource, the API unreachable)", exitUsage + "; a configured org the token does not list"}},
	{"simulate", "simulate [flags]", "serve the simulated Turso Platform API",
		[]string{"0  stopped by a signal", "1  could not serve", exitUsage}},
	{"prune", "prune --config FILE (--account ID | --query NAME | --policy NAME | --retention) [--yes]", "remove the rows of an account, query or policy no longer configured, or apply retention now",
		[]string{"0  removed, or nothing to remove", "1  the mirror refused", exitUsage + "; rows listed but not removed without --yes"}},
	{"export", "export --config FILE [--export ID] [--full] [--dry-run] [--output json] | export access-review --config FILE --format csv|json|baton|vanta [--vanta-resource-id ID] [--account ID] [--org SLUG] [--out FILE]",
		"run the configured exports once (what changed since each one's cursor, or a full copy), or write an access review: one row per person per org with role, status, since, last activity",
		[]string{"0  written", "1  an export failed (its cursor stays), the mirror refused, or the file could not be written", exitUsage}},
	{"policy", "policy check --config FILE [--policy NAME] [--output json]", "evaluate the policies now for every account they apply to, each under its lease, and list the open violations",
		[]string{"0  no critical violation is open and every policy ran", "1  a critical violation is open, a policy failed, or another process holds an account's lease", exitUsage}},
	{"accounts", "accounts (pause | resume | sync) ID --config FILE [flags]", "pause or resume an account's scheduled passes, or ask the daemons for a pass now, through the mirror (docs/control.md)",
		[]string{"0  done", "1  the mirror refused, or no daemon started the pass", exitUsage}},
	{"webhooks", "webhooks (list | test | replay) --config FILE [flags]", "list the webhook endpoints' lag, send a test ping, or replay from an event",
		[]string{"0  done", "1  the ping got no 2xx, or the mirror refused", exitUsage}},
	{"schema", "schema [TABLE] [--internal] [--output json]", "the data dictionary: every table and view, or one table's columns, types, sources and values",
		[]string{"0  printed", exitUsage + "; an unknown TABLE"}},
	{"version", "version [--output json]", "print version information",
		[]string{"0  printed", exitUsage}},
}

// webhookCommands are the subcommands of `tursync webhooks`.
var webhookCommands = []command{
	{"webhooks list", "webhooks list --config FILE [--output json]", "each endpoint's accounts, the change events it is behind, its oldest undelivered one, its last attempt",
		[]string{"0  listed", "1  the mirror refused", exitUsage}},
	{"webhooks test", "webhooks test --config FILE --endpoint ID [--output json]", "send the endpoint a signed ping event",
		[]string{"0  the endpoint answered 2xx", "1  it did not (a redirect, an error, no answer)", exitUsage}},
	{"webhooks replay", "webhooks replay --config FILE --endpoint ID --from EVENT_ID [--account ID] [--output json]", "put the endpoint's cursor back so the daemon sends every change event from EVENT_ID on again",
		[]string{"0  the cursor moved", "1  the mirror refused", exitUsage}},
}

// subcommand picks the subcommand of a group (`tursync webhooks list`)
// from args: with none, or -h, it prints the group's usage (want names the
// subcommands, "list, test or replay") and returns the error to end with.
func (m *Main) subcommand(group, want string, cmds []command, args []string) (sub string, rest []string, err error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintf(m.Stderr, "Usage: tursync %s\n\n", commandSynopsis(group))
		for _, c := range cmds {
			fmt.Fprintf(m.Stderr, "  %-16s  %s\n", c.name, c.summary)
		}
		fmt.Fprintf(m.Stderr, "\nRun 'tursync %s <subcommand> -h' for its flags and exit codes.\n", group)
		if len(args) > 0 {
			return "", nil, errHelp
		}
		return "", nil, &UsageError{Msg: group + ": want " + want}
	}
	if _, ok := commandNamed(group + " " + args[0]); !ok {
		return "", nil, &UsageError{Msg: fmt.Sprintf("%s: unknown subcommand %q (want %s)", group, args[0], want)}
	}
	return args[0], args[1:], nil
}

// commandSynopsis is a command's synopsis ("" for none).
func commandSynopsis(name string) string {
	c, _ := commandNamed(name)
	return c.synopsis
}

func commandNamed(name string) (command, bool) {
	for _, c := range slices.Concat(commands, webhookCommands, accountCommands) {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// requiredMark starts the usage of a flag a command cannot run without.
const requiredMark = "(required) "

// flags is a command's flag set; its -h prints the synopsis, the flags
// (required ones marked) and the exit codes.
func (m *Main) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { printCommandHelp(fs.Output(), name, fs) }
	return fs
}

// printCommandHelp is a command's -h.
func printCommandHelp(w io.Writer, name string, fs *flag.FlagSet) {
	c, ok := commandNamed(name)
	if !ok {
		fs.PrintDefaults()
		return
	}
	fmt.Fprintf(w, "Usage: tursync %s\n\n%s.\n", c.synopsis, strings.ToUpper(c.summary[:1])+c.summary[1:])
	if fs != nil && hasFlags(fs) {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.PrintDefaults()
	}
	fmt.Fprintf(w, "\nExit codes:\n")
	for _, e := range c.exits {
		fmt.Fprintf(w, "  %s\n", e)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// runHelp is `tursync help [CMD]`: the command's -h, or the global help.
func (m *Main) runHelp(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	name := strings.Join(args, " ")
	if name == "help" {
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	c, ok := commandNamed(name)
	if !ok {
		return &UsageError{Msg: fmt.Sprintf("help: unknown command %q (run 'tursync help' for the list)", name)}
	}
	// The command's own flag set prints its help: run it with -h, its
	// output sent to stdout, as asked for.
	saved := m.Stderr
	m.Stderr = m.Stdout
	defer func() { m.Stderr = saved }()
	words := strings.Fields(c.name)
	return m.dispatch(ctx, words[0], append(words[1:], "-h"))
}

func globalUsage() string {
	var b strings.Builder
	b.WriteString("tursync keeps a SQL mirror of Turso organizations.\n\nUsage: tursync <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s  %s\n", c.name, c.summary)
	}
	b.WriteString("  help       this list, or a command's flags and exit codes: tursync help <command>\n")
	b.WriteString("\nRun 'tursync <command> -h' for a command's flags and exit codes; 'tursync --version' for the version.\n")
	return b.String()
}

// countingWriter counts what a command printed, so Run knows whether an
// error under --output json still needs its document.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// wantsJSON reports whether a command line asks for --output json.
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch a {
		case "--output=json", "-output=json":
			return true
		case "--output", "-output":
			if i+1 < len(args) && args[i+1] == "json" {
				return true
			}
		}
	}
	return false
}

// errorProblem is one problem of an error document.
type errorProblem struct {
	Key     string `json:"key"`
	Line    int    `json:"line"`
	Message string `json:"message"`
	Hint    string `json:"hint"`
}

// errorDocument is what --output json prints for an error: its exit code
// and its problems, one per config problem.
func errorDocument(err error) any {
	var probs []errorProblem
	var ce *ConfigError
	if errors.As(err, &ce) && len(ce.Problems) > 0 {
		probs = ce.Problems
	} else {
		probs = []errorProblem{{Message: err.Error()}}
	}
	return map[string]any{"error": map[string]any{"exit_code": codeOf(err), "problems": probs}}
}
