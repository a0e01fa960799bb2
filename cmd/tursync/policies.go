package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tursync/tursync/daemon"
	"github.com/tursync/tursync/lease"
	"github.com/tursync/tursync/metrics"
	"github.com/tursync/tursync/policy"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
)

// PolicyConfig is one entry of policies: a statement of its own or a
// builtin of the pack, and who it applies to (docs/policies.md).
type PolicyConfig struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	Severity    string         `yaml:"severity"`
	Accounts    []string       `yaml:"accounts"`
	SQL         string         `yaml:"sql"`
	Builtin     string         `yaml:"builtin"`
	Params      map[string]any `yaml:"params"`
}

var policyName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// validatePolicies checks every policy and fills its default severity.
func (c *Config) validatePolicies(p *configProblems) {
	names := map[string]bool{}
	for i := range c.Policies {
		pc := &c.Policies[i]
		at := fmt.Sprintf("policies[%d]", i)
		if !policyName.MatchString(pc.Name) {
			p.add(at+".name", 0, "want 1 to 64 of a-z, 0-9, _ and -, not %q", pc.Name)
		} else if names[pc.Name] {
			p.add(at+".name", 0, "duplicate policy name %q", pc.Name)
		}
		names[pc.Name] = true
		if pc.Severity == "" {
			pc.Severity = policy.Warning
		}
		for j, g := range pc.Accounts {
			if !slices.ContainsFunc(c.Accounts, func(a AccountConfig) bool { ok, _ := path.Match(g, a.ID); return ok }) {
				p.add(fmt.Sprintf("%s.accounts[%d]", at, j), 0, "%q matches no account of the config", g)
			}
		}
		if err := pc.policy().Validate(); err != nil {
			p.add(at, 0, "%v", err)
		}
	}
}

func (pc PolicyConfig) policy() policy.Policy {
	return policy.Policy{Name: pc.Name, Description: pc.Description, Severity: pc.Severity, Accounts: pc.Accounts,
		SQL: strings.TrimSpace(pc.SQL), Builtin: pc.Builtin, Params: pc.Params}
}

// policies are the config's policies, ready to evaluate.
func (c *Config) policies() []policy.Policy {
	out := make([]policy.Policy, len(c.Policies))
	for i, pc := range c.Policies {
		out[i] = pc.policy()
	}
	return out
}

// evaluatePolicies evaluates an account's policies after its pass, under
// its lease, logs what changed and feeds the metrics. A pass that failed
// as a whole (or was interrupted) left nothing new to judge; a policy's
// last evaluation stands after passes that wrote nothing
// (policy.AfterPass).
func evaluatePolicies(ctx context.Context, st *storage.Store, policies []policy.Policy, account string, res tsync.Result, m *metrics.Metrics,
	now func() time.Time, log *slog.Logger) []policy.Outcome {
	if len(policies) == 0 || (res.Status != storage.StatusComplete && res.Status != storage.StatusPartial) {
		return nil
	}
	start := time.Now()
	out := policy.AfterPass(ctx, st.Policies(), account, policies, now)
	stood := 0
	for _, o := range out {
		logOutcome(log, o)
		open := o.Recorded.Open
		if o.Unrecorded {
			open = -1 // unknown: the gauge keeps what it had
		}
		if o.Stood {
			stood++
		}
		m.PolicyEvaluated(o.Policy.Name, o.Policy.Severity, account, o.Err == nil, open)
	}
	log.Debug("policies after the pass", "account", account, "evaluated", len(out)-stood, "stood", stood, "duration", time.Since(start).Round(time.Millisecond))
	return out
}

func logOutcome(log *slog.Logger, o policy.Outcome) {
	if o.Err != nil {
		log.Warn("policy failed; its violations stay as they were", "policy", o.Policy.Name, "account", o.Account, "error", o.Err)
		return
	}
	if o.Stood {
		log.Debug("policy unchanged: no pass wrote a row since its last evaluation", "policy", o.Policy.Name, "account", o.Account, "open", o.Recorded.Open)
		return
	}
	level := slog.LevelDebug
	if len(o.Recorded.Opened)+len(o.Recorded.Resolved) > 0 {
		level = slog.LevelInfo
	}
	log.Log(context.Background(), level, "policy evaluated", "policy", o.Policy.Name, "account", o.Account, "severity", o.Policy.Severity,
		"open", o.Recorded.Open, "opened", len(o.Recorded.Opened), "resolved", len(o.Recorded.Resolved), "duration", o.Took.Round(time.Millisecond))
}

// ErrPolicyViolated means a critical violation is open after `tursync
// policy check`: exit 1.
var ErrPolicyViolated = errors.New("a critical policy violation is open")

// policyCheckReport is `tursync policy check --output json`.
type policyCheckReport struct {
	OK         bool                  `json:"ok"`
	Policies   []policyCheckOutcome  `json:"policies"`
	Violations []policyViolationJSON `json:"violations"`
}

type policyCheckOutcome struct {
	Policy   string `json:"policy"`
	Account  string `json:"account"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
	Open     int    `json:"open"`
	Opened   int    `json:"opened"`
	Resolved int    `json:"resolved"`
}

type policyViolationJSON struct {
	Policy       string          `json:"policy"`
	Severity     string          `json:"severity"`
	Account      string          `json:"account"`
	Organization string          `json:"organization"`
	SubjectType  string          `json:"subject_type"`
	SubjectID    string          `json:"subject_id"`
	Details      json.RawMessage `json:"details"`
	FirstSeenAt  string          `json:"first_seen_at"`
}

// runPolicy is `tursync policy check`: every policy (or one) evaluated
// now for every account it applies to, each under the account's lease.
func (m *Main) runPolicy(ctx context.Context, args []string) error {
	fs := m.flags("policy")
	if len(args) > 0 && args[0] != "check" && !strings.HasPrefix(args[0], "-") {
		return &UsageError{Msg: fmt.Sprintf("policy: unknown subcommand %q (want check)", args[0])}
	}
	if len(args) == 0 || args[0] != "check" {
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return errHelp
		}
		return &UsageError{Msg: "policy: want check (tursync policy check --config FILE)"}
	}
	only := fs.String("policy", "", "evaluate only this policy")
	output := outputFlag(fs)
	cfg, _, err := m.parseWithConfig(fs, args[1:])
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	policies, err := cfg.policiesNamed(*only)
	if err != nil {
		return err
	}
	w := m.wiring()
	log := newLogger(m.Stderr, cfg.Log.Level, cfg.Log.Format)
	st, err := w.openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	leases := lease.New(st, lease.Options{Owner: m.owner(), TTL: time.Duration(cfg.Sync.LeaseTTL), Logger: log})
	var outs []policy.Outcome
	for _, a := range cfg.Accounts {
		o, err := checkAccountPolicies(ctx, st, leases, a.ID, policies, w.now, log)
		if err != nil {
			return err
		}
		outs = append(outs, o...)
	}
	rep, failed, err := policyCheck(ctx, st, policies, outs)
	if err != nil {
		return err
	}
	if *output == "json" {
		if err := writeJSON(m.Stdout, rep); err != nil {
			return err
		}
	} else {
		printPolicyCheck(m, rep)
	}
	switch {
	case failed != nil:
		return fmt.Errorf("%w: %w", ErrPolicyViolated, failed)
	case !rep.OK:
		return ErrPolicyViolated
	}
	return nil
}

// policiesNamed are the config's policies, or the one named; none is a
// usage error.
func (c *Config) policiesNamed(only string) ([]policy.Policy, error) {
	policies := c.policies()
	if only != "" {
		policies = slices.DeleteFunc(policies, func(p policy.Policy) bool { return p.Name != only })
		if len(policies) == 0 {
			return nil, &UsageError{Msg: fmt.Sprintf("policy check: no policy %q in the config", only)}
		}
	}
	if len(policies) == 0 {
		return nil, &UsageError{Msg: "policy check: the config has no policies"}
	}
	return policies, nil
}

// policyCheck is the report of `policy check`: each outcome, and the open
// violations of the policies after them. failed is the last evaluation
// that failed; the report is not OK when one did or a critical
// violation is open.
func policyCheck(ctx context.Context, st *storage.Store, policies []policy.Policy, outs []policy.Outcome) (rep policyCheckReport, failed, err error) {
	rep = policyCheckReport{OK: true, Violations: []policyViolationJSON{}}
	for _, o := range outs {
		oc := policyCheckOutcome{Policy: o.Policy.Name, Account: o.Account, Severity: o.Policy.Severity, Status: "ok",
			Open: o.Recorded.Open, Opened: len(o.Recorded.Opened), Resolved: len(o.Recorded.Resolved)}
		if o.Err != nil {
			oc.Status, oc.Error, failed = "failed", o.Err.Error(), o.Err
			rep.OK = false
		}
		rep.Policies = append(rep.Policies, oc)
	}
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.Name
	}
	open, err := st.Policies().OpenViolations(ctx, names...)
	if err != nil {
		return rep, failed, err
	}
	for _, v := range open {
		rep.Violations = append(rep.Violations, policyViolationJSON{Policy: v.Policy, Severity: v.Severity, Account: v.Account, Organization: v.Org,
			SubjectType: v.SubjectType, SubjectID: v.SubjectID, Details: json.RawMessage(v.Details), FirstSeenAt: v.FirstSeenAt.UTC().Format(time.RFC3339)})
		if v.Severity == policy.Critical {
			rep.OK = false
		}
	}
	return rep, failed, nil
}

// checkAccountPolicies evaluates the policies of one account under its lease.
func checkAccountPolicies(ctx context.Context, st *storage.Store, leases *lease.Holder, account string, policies []policy.Policy, now func() time.Time,
	log *slog.Logger) ([]policy.Outcome, error) {
	ctx, release, err := leases.Hold(ctx, account)
	var held *storage.LeaseHeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("account %s: another process (%s) is syncing it, until %s at the latest; try again after its pass", account,
			held.Holder.Owner, held.Holder.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return nil, err
	}
	defer release()
	out := policy.Evaluate(ctx, st.Policies(), account, policies, now)
	for _, o := range out {
		logOutcome(log, o)
	}
	return out, nil
}

func printPolicyCheck(m *Main, rep policyCheckReport) {
	for _, o := range rep.Policies {
		if o.Error != "" {
			fmt.Fprintf(m.Stdout, "%-28s %-10s %-8s FAILED: %s\n", o.Policy, o.Account, o.Severity, o.Error)
			continue
		}
		fmt.Fprintf(m.Stdout, "%-28s %-10s %-8s %d open (%d new, %d resolved)\n", o.Policy, o.Account, o.Severity, o.Open, o.Opened, o.Resolved)
	}
	if len(rep.Violations) > 0 {
		fmt.Fprintln(m.Stdout)
	}
	for _, v := range rep.Violations {
		fmt.Fprintf(m.Stdout, "%s %s %s/%s %s %s %s since %s\n", v.Severity, v.Policy, v.Account, v.Organization, v.SubjectType, v.SubjectID, v.Details, v.FirstSeenAt)
	}
}

// policyStatus is /status's policies: each configured policy's last
// evaluation per account, with its oldest open violations.
func (d *runner) policyStatus(ctx context.Context) ([]daemon.PolicyStatus, error) {
	cfg := d.cfg.Load()
	configured := map[string]bool{}
	for _, p := range cfg.Policies {
		configured[p.Name] = true
	}
	states, err := d.store.Policies().States(ctx)
	if err != nil {
		return nil, err
	}
	open, err := d.store.Policies().OpenViolations(ctx)
	if err != nil {
		return nil, err
	}
	out := []daemon.PolicyStatus{}
	index := map[[2]string]int{}
	for _, st := range states {
		if !configured[st.Policy] {
			continue // taken out of the config: prune --policy removes its rows
		}
		index[[2]string{st.Policy, st.Account}] = len(out)
		out = append(out, daemon.PolicyStatus{Policy: st.Policy, Account: st.Account, Severity: st.Severity, Status: st.Status, Error: st.Error,
			EvaluatedAt: st.EvaluatedAt, Open: st.Open, Violations: []daemon.PolicyViolation{}})
	}
	for _, v := range open {
		i, ok := index[[2]string{v.Policy, v.Account}]
		if !ok || len(out[i].Violations) == daemon.PolicyViolationsShown {
			continue
		}
		out[i].Violations = append(out[i].Violations, daemon.PolicyViolation{Organization: v.Org, SubjectType: v.SubjectType, SubjectID: v.SubjectID,
			Details: json.RawMessage(v.Details), FirstSeenAt: v.FirstSeenAt})
	}
	return out, nil
}
