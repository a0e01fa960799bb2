package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/tursync/tursync/storage"
)

// accountCommands are the subcommands of `tursync accounts`: the control
// API's through the mirror, for operators without HTTP access
// (docs/control.md).
var accountCommands = []command{
	{"accounts pause", "accounts pause ID --config FILE", "pause an account: every daemon of the mirror skips its scheduled passes until it is resumed",
		[]string{"0  paused", "1  the mirror refused", exitUsage + "; an account not in the config"}},
	{"accounts resume", "accounts resume ID --config FILE", "resume a paused account: its schedule runs again",
		[]string{"0  resumed", "1  the mirror refused", exitUsage + "; an account not in the config"}},
	{"accounts sync", "accounts sync ID --config FILE [--wait DURATION]", "ask the daemons of the mirror for a pass of the account now, and wait for one to start it",
		[]string{"0  a daemon started the pass (its run id printed)", "1  the account is paused, the mirror refused, or no daemon took the request within --wait (it stays pending)", exitUsage + "; an account not in the config"}},
}

// runAccounts is `tursync accounts pause|resume|sync ID`.
func (m *Main) runAccounts(ctx context.Context, args []string) error {
	sub, rest, err := m.subcommand("accounts", "pause, resume or sync", accountCommands, args)
	if err != nil {
		return err
	}
	// The account comes first (tursync accounts pause acme --config F)
	// or after the flags.
	var id string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	fs := m.flags("accounts " + sub)
	path := fs.String("config", "", requiredMark+"config file (YAML)")
	wait := fs.Duration("wait", 30*time.Second, "how long sync waits for a daemon to start the pass")
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp // the flag package printed the command's flags
		}
		return &UsageError{Msg: err.Error()}
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return &UsageError{Msg: fmt.Sprintf("accounts %s: unexpected argument %q", sub, fs.Arg(0))}
	}
	if id == "" {
		return &UsageError{Msg: fmt.Sprintf("accounts %s: give the account's id (tursync accounts %s ID --config FILE)", sub, sub)}
	}
	// Pausing needs no token: the config's tokens are not read.
	cfg, err := m.wiring().loadConfigTokens(*path, false)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(cfg.Accounts, func(a AccountConfig) bool { return a.ID == id }) {
		return &UsageError{Msg: fmt.Sprintf("accounts %s: no account %q in the config", sub, id)}
	}
	st, err := m.wiring().openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	by := operator()
	switch sub {
	case "pause", "resume":
		if err := st.Controls().SetPaused(ctx, id, sub == "pause", by); err != nil {
			return err
		}
		if sub == "pause" {
			fmt.Fprintf(m.Stdout, "account %s paused: every daemon of this mirror skips its scheduled passes until `tursync accounts resume %s`\n", id, id)
		} else {
			fmt.Fprintf(m.Stdout, "account %s resumed: its schedule runs again\n", id)
		}
		return nil
	}
	return m.requestPass(ctx, st, id, by, *wait)
}

// requestPass asks the daemons of the mirror for a pass of the account
// and waits up to wait for one to start it.
func (m *Main) requestPass(ctx context.Context, st *storage.Store, id, by string, wait time.Duration) error {
	c, err := st.Controls().Get(ctx, id)
	if err != nil {
		return err
	}
	if c.Paused {
		return fmt.Errorf("account %s is paused (by %s): resume it first (tursync accounts resume %s)", id, c.PausedBy, id)
	}
	asked, err := st.Controls().RequestSync(ctx, id, by)
	if err != nil {
		return err
	}
	deadline := m.Now().Add(wait)
	for {
		c, err := st.Controls().Get(ctx, id)
		if err != nil {
			return err
		}
		if c.SyncRequestedAt.Equal(asked) && c.SyncRunID != 0 {
			fmt.Fprintf(m.Stdout, "account %s: run %d started\n", id, c.SyncRunID)
			return nil
		}
		if m.Now().After(deadline) {
			if !c.SyncClaimedAt.IsZero() {
				return fmt.Errorf("account %s: a daemon took the request but has not started the pass within %s (it waits for a concurrency slot, or a pass was running); see its log and /status", id, wait)
			}
			return fmt.Errorf("account %s: no daemon took the request within %s; it stays pending and a daemon that schedules the account takes it (is `tursync run` running on this mirror?)", id, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// operator names who runs a command, for account_controls: the operating
// system user.
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "os:" + u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return "os:" + u
	}
	return "os:unknown"
}
