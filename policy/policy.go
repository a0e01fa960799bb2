// Package policy evaluates policies over the mirror: a policy is a query
// whose rows are violations, written by the user or taken from the
// built-in pack (builtin.go), evaluated for one account at a time under
// its lease, with the lifecycle storage.Policies keeps (docs/policies.md).
package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/tursync/tursync/sqlcheck"
	"github.com/tursync/tursync/storage"
)

// The severities a policy may have.
const (
	Info     = "info"
	Warning  = "warning"
	Critical = "critical"
)

// Severities are every severity, mildest first.
var Severities = []string{Info, Warning, Critical}

// Policy is one entry of the config's policies: a statement of its own
// (SQL) or a built-in with its parameters.
type Policy struct {
	Name, Description, Severity string
	// Accounts are globs (path.Match) of the accounts it applies to; none
	// means every account.
	Accounts []string
	SQL      string
	Builtin  string
	Params   map[string]any
}

// Validate says what is wrong with a policy, naming the field.
func (p Policy) Validate() error {
	if p.Name == "" {
		return errors.New("name is empty")
	}
	if !slices.Contains(Severities, p.Severity) {
		return fmt.Errorf("severity %q: want one of %s", p.Severity, strings.Join(Severities, ", "))
	}
	for _, g := range p.Accounts {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("accounts: %q is not a glob: %w", g, err)
		}
	}
	switch {
	case p.SQL != "" && p.Builtin != "":
		return errors.New("has both sql and builtin; give one")
	case p.SQL != "":
		if len(p.Params) > 0 {
			return errors.New("params are for a builtin; a sql policy takes none")
		}
		if err := sqlcheck.Check(p.SQL); err != nil {
			return fmt.Errorf("sql: %w", err)
		}
	case p.Builtin != "":
		b := BuiltinNamed(p.Builtin)
		if b == nil {
			return fmt.Errorf("builtin %q: want one of %s", p.Builtin, strings.Join(BuiltinNames(), ", "))
		}
		if _, err := b.args(p.Params); err != nil {
			return fmt.Errorf("builtin %s: %w", p.Builtin, err)
		}
	default:
		return errors.New("has neither sql nor builtin")
	}
	return nil
}

// Applies reports whether the policy applies to an account.
func (p Policy) Applies(account string) bool {
	if len(p.Accounts) == 0 {
		return true
	}
	for _, g := range p.Accounts {
		if ok, _ := path.Match(g, account); ok {
			return true
		}
	}
	return false
}

// Statement is the policy's query for an account at a time, with its
// arguments. Every statement sees a one-row table p with p.account and
// p.now (and a builtin's parameters by name); a user's statement's rows
// are kept only for the orgs of the account.
func (p Policy) Statement(account string, now time.Time) (string, []any, error) {
	at := now.UTC().Format(time.RFC3339)
	if p.SQL != "" {
		return `WITH p(account, now) AS (VALUES (?, ?))
SELECT v.* FROM (` + sqlcheck.Bounded(p.SQL, storage.MaxViolations+1) + `) AS v
WHERE v.organization_id IN (SELECT o.id FROM organizations o WHERE o.account_id = ?)`, []any{account, at, account}, nil
	}
	b := BuiltinNamed(p.Builtin)
	if b == nil {
		return "", nil, fmt.Errorf("no builtin %q", p.Builtin)
	}
	vals, err := b.args(p.Params)
	if err != nil {
		return "", nil, err
	}
	names := []string{"account", "now"}
	args := []any{account, at}
	for i, prm := range b.Params {
		names = append(names, prm.Name)
		args = append(args, vals[i])
	}
	return "WITH p(" + strings.Join(names, ", ") + ") AS (VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ") + "))\n" + b.SQL, args, nil
}

// Store is what evaluation needs of the mirror (storage.Policies).
type Store interface {
	Find(ctx context.Context, query string, args ...any) ([]storage.Violation, error)
	Record(ctx context.Context, e storage.Evaluation) (storage.Recorded, error)
	Current(ctx context.Context, policy, account, definition string, notBefore time.Time) (open int, current bool, err error)
}

// Outcome is one policy's evaluation for one account.
type Outcome struct {
	Policy   Policy
	Account  string
	Recorded storage.Recorded
	// Err is why the evaluation failed (recorded as failed, nothing
	// resolved), or why it could not be recorded.
	Err error
	// Unrecorded: the mirror refused the outcome, so Recorded says
	// nothing of the open violations.
	Unrecorded bool
	// Stood: the last evaluation stands (AfterPass); the query did not
	// run and Recorded.Open is what that evaluation left open.
	Stood bool
	Took  time.Duration
}

// StandsFor is how long an evaluation may stand after passes that wrote
// nothing (AfterPass): a violation that only the clock makes (an invite
// turning days old) or a write by something other than a pass (prune)
// is seen within it.
const StandsFor = time.Hour

// Evaluate evaluates every policy that applies to the account and records
// each outcome: what `tursync policy check` does. The caller holds the
// account's lease. One policy failing does not stop the others.
func Evaluate(ctx context.Context, st Store, account string, policies []Policy, now func() time.Time) []Outcome {
	return evaluate(ctx, st, account, policies, now, false)
}

// AfterPass is Evaluate after a pass of the account, except that a
// policy's last evaluation stands when it is less than StandsFor old, of
// the same definition, and no pass since wrote a row (storage's Current):
// its query would read what it read then. A user's statement and a
// builtin that reads the record of passes (EveryPass) always run.
func AfterPass(ctx context.Context, st Store, account string, policies []Policy, now func() time.Time) []Outcome {
	return evaluate(ctx, st, account, policies, now, true)
}

func evaluate(ctx context.Context, st Store, account string, policies []Policy, now func() time.Time, mayStand bool) []Outcome {
	var out []Outcome
	for _, p := range policies {
		if !p.Applies(account) {
			continue
		}
		o := Outcome{Policy: p, Account: account}
		start := time.Now()
		at := now()
		q, args, err := p.Statement(account, at)
		def := definition(q, args)
		if err == nil && mayStand && p.mayStand() {
			open, current, cerr := st.Current(ctx, p.Name, account, def, at.Add(-StandsFor))
			if cerr == nil && current {
				o.Stood, o.Recorded.Open, o.Took = true, open, time.Since(start)
				out = append(out, o)
				continue
			}
			// A mirror that cannot say leaves the evaluation to run.
		}
		var vs []storage.Violation
		if err == nil {
			vs, err = st.Find(ctx, q, args...)
		}
		o.Took = time.Since(start)
		if err != nil {
			err = fmt.Errorf("policy %s: %w", p.Name, err)
		}
		rec, rerr := st.Record(ctx, storage.Evaluation{Policy: p.Name, Severity: p.Severity, Account: account, Definition: def,
			At: at, Took: o.Took, Violations: vs, Err: err})
		o.Recorded, o.Err = rec, err
		if rerr != nil {
			o.Err, o.Unrecorded = rerr, true
		}
		out = append(out, o)
	}
	return out
}

// mayStand: a builtin that does not read the record of passes. What a
// user's statement reads is not known, so it always runs.
func (p Policy) mayStand() bool {
	b := BuiltinNamed(p.Builtin)
	return p.SQL == "" && b != nil && !b.EveryPass
}

// definition identifies a statement with its arguments but the time
// (Statement's second): the same policy, parameters and account.
func definition(q string, args []any) string {
	h := sha256.New()
	h.Write([]byte(q))
	for i, a := range args {
		if i != 1 {
			fmt.Fprintf(h, "\x00%v", a)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// jsonText is a value as JSON text, for a parameter a statement reads
// with json_each.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
