package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
)

// checkReport is what `check` found; `--output json` prints it as is
// (docs/operations.md documents the shape).
type checkReport struct {
	OK       bool           `json:"ok"`
	Config   checkConfig    `json:"config"`
	Mirror   checkMirror    `json:"mirror"`
	Accounts []checkAccount `json:"accounts"`
}

type checkConfig struct {
	Path     string `json:"path"`
	Accounts int    `json:"accounts"`
}

type checkMirror struct {
	URL           string `json:"url"`
	Writable      bool   `json:"writable"`
	SchemaVersion int64  `json:"schema_version"`
	Pending       int    `json:"pending_migrations"`
	Error         string `json:"error,omitempty"`
}

type checkAccount struct {
	ID             string      `json:"id"`
	OK             bool        `json:"ok"`
	TokenExpiresAt *time.Time  `json:"token_expires_at,omitempty"` // absent: never expires, or unknown after an error
	Error          string      `json:"error,omitempty"`
	ErrorClass     string      `json:"error_class,omitempty"`
	VisibleOrgs    []string    `json:"visible_orgs"`
	Orgs           []checkOrg  `json:"orgs"`
	MissingOrgs    []checkMiss `json:"missing_orgs,omitempty"`
	warnings       []string    // printed in text only
}

type checkOrg struct {
	Org       string          `json:"org"`
	Plan      string          `json:"plan"`
	Resources []checkResource `json:"resources"`
}

type checkResource struct {
	Resource string `json:"resource"`
	Status   string `json:"status"` // ok, unavailable, error
	Reason   string `json:"reason,omitempty"`
}

type checkMiss struct {
	Org        string `json:"org"`
	DidYouMean string `json:"did_you_mean,omitempty"`
}

// runCheck validates the config, proves the mirror takes writes, and per
// account what the token can see. It exits 1 whenever `sync` would fail.
func (m *Main) runCheck(ctx context.Context, args []string) error {
	fs := m.flags("check")
	output := outputFlag(fs)
	cfg, path, err := m.parseWithConfig(fs, args)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	log := newLogger(m.Stderr, "warn", cfg.Log.Format)
	accts, err := m.wiring().accounts(cfg, "", log)
	if err != nil {
		return err
	}
	rep := checkReport{OK: true, Config: checkConfig{Path: path, Accounts: len(cfg.Accounts)}}
	rep.Mirror = m.checkMirror(ctx, cfg)
	if !rep.Mirror.Writable {
		rep.OK = false
	}
	for _, a := range accts {
		ca := checkAccountAPI(ctx, a, cfg.API.BaseURL)
		rep.OK = rep.OK && ca.OK
		rep.Accounts = append(rep.Accounts, ca)
	}
	if *output == "json" {
		if err := writeJSON(m.Stdout, rep); err != nil {
			return err
		}
	} else {
		printCheck(m.Stdout, rep)
	}
	// An org the token does not list is a config error, as in sync: exit 2.
	probs := newProblems()
	for i, a := range rep.Accounts {
		for _, miss := range a.MissingOrgs {
			hint := ""
			if miss.DidYouMean != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", miss.DidYouMean)
			}
			probs.add(fmt.Sprintf("accounts[%d].orgs", i), cfg.Accounts[i].line, "the token does not list org %q%s", miss.Org, hint)
		}
	}
	if err := probs.err(); err != nil {
		return err
	}
	if !rep.OK {
		return ErrSyncFailed
	}
	return nil
}

// checkMirror opens the mirror without migrating it and proves a write
// goes through. A mirror file that did not exist is removed again.
func (m *Main) checkMirror(ctx context.Context, cfg Config) checkMirror {
	cm := checkMirror{URL: storage.RedactURL(cfg.Mirror.URL)}
	path := storage.FilePath(cfg.Mirror.URL)
	created := false
	if path != "" {
		_, err := os.Stat(path)
		created = errors.Is(err, os.ErrNotExist)
	}
	st, err := m.wiring().openStore(ctx, cfg, true)
	if err != nil {
		cm.Error = err.Error()
		return cm
	}
	defer func() {
		st.Close()
		if created {
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				_ = os.Remove(p)
			}
		}
	}()
	if err := st.CheckWritable(ctx); err != nil {
		cm.Error = err.Error()
		return cm
	}
	cm.Writable = true
	ms, err := st.MigrationStatus(ctx)
	if err != nil {
		cm.Error = err.Error()
		cm.Writable = false
		return cm
	}
	for _, mg := range ms {
		if mg.Applied {
			cm.SchemaVersion = mg.Version
		} else {
			cm.Pending++
		}
	}
	return cm
}

// checkAccountAPI asks the API what a's token sees, as a pass would.
func checkAccountAPI(ctx context.Context, a tsync.Account, baseURL string) checkAccount {
	ca := checkAccount{ID: a.ID, OK: true, VisibleOrgs: []string{}, Orgs: []checkOrg{}}
	fail := func(err error) checkAccount {
		ca.OK = false
		ca.ErrorClass = string(turso.ClassOf(err))
		if turso.ClassOf(err) == turso.ClassNetwork {
			ca.Error = fmt.Sprintf("Platform API unreachable at %s (api.base_url): %v", baseURL, err)
		} else {
			ca.Error = err.Error()
		}
		return ca
	}
	exp, err := a.API.ValidateToken(ctx)
	if err != nil {
		return fail(err)
	}
	if exp > 0 {
		t := time.Unix(exp, 0).UTC()
		ca.TokenExpiresAt = &t
		if left := time.Until(t); left < 14*24*time.Hour {
			ca.warnings = append(ca.warnings, fmt.Sprintf("the token expires in %s: mint a new one before then", left.Round(time.Hour)))
		}
	}
	orgs, err := a.API.ListOrganizations(ctx)
	if err != nil {
		return fail(err)
	}
	ca.VisibleOrgs = tsync.OrgSlugs(orgs)
	for _, want := range a.Orgs {
		if !slices.Contains(ca.VisibleOrgs, want) {
			ca.OK = false
			ue := &tsync.UnknownOrgError{Account: a.ID, Org: want, Visible: ca.VisibleOrgs}
			ca.MissingOrgs = append(ca.MissingOrgs, checkMiss{Org: want, DidYouMean: ue.Suggestion()})
			ca.ErrorClass = string(turso.ClassNotFound)
			ca.Error = ue.Error()
		}
	}
	for _, o := range orgs {
		if len(a.Orgs) > 0 && !slices.Contains(a.Orgs, o.Slug) {
			continue
		}
		co := checkOrg{Org: o.Slug, Plan: o.PlanID}
		for _, p := range tsync.Probes(a.API, o.Slug) {
			cr := checkResource{Resource: p.Resource, Status: "ok"}
			switch err := p.Run(ctx); turso.ClassOf(err) {
			case "":
			case turso.ClassPlan:
				cr.Status, cr.Reason = "unavailable", "plan"
			case turso.ClassForbidden:
				cr.Status, cr.Reason = "unavailable", "needs admin or owner"
			default:
				ca.OK = false
				cr.Status, cr.Reason = "error", err.Error()
			}
			co.Resources = append(co.Resources, cr)
		}
		ca.Orgs = append(ca.Orgs, co)
	}
	return ca
}

func printCheck(w io.Writer, rep checkReport) {
	fmt.Fprintf(w, "config ok: %s\n", plural(rep.Config.Accounts, "account"))
	if rep.Mirror.Writable {
		fmt.Fprintf(w, "mirror %s: writable, schema version %d", rep.Mirror.URL, rep.Mirror.SchemaVersion)
		if rep.Mirror.Pending > 0 {
			fmt.Fprintf(w, " (%s to apply at the next start)", plural(rep.Mirror.Pending, "migration"))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "mirror %s: FAILED: %s\n", rep.Mirror.URL, rep.Mirror.Error)
	}
	for _, a := range rep.Accounts {
		printCheckAccount(w, a)
	}
	if rep.OK {
		fmt.Fprintln(w, "check ok")
	} else {
		fmt.Fprintln(w, "check FAILED: a sync with this config would fail (see above)")
	}
}

func printCheckAccount(w io.Writer, a checkAccount) {
	if a.Error != "" && len(a.MissingOrgs) == 0 {
		fmt.Fprintf(w, "account %s: FAILED: %s\n", a.ID, a.Error)
		return
	}
	expires := "never expires"
	if a.TokenExpiresAt != nil {
		expires = "expires " + a.TokenExpiresAt.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "account %s: token ok (%s), sees %s: %s\n", a.ID, expires, plural(len(a.VisibleOrgs), "org"), strings.Join(a.VisibleOrgs, ", "))
	for _, warn := range a.warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	for _, o := range a.Orgs {
		fmt.Fprintf(w, "  org %s (%s plan):", o.Org, o.Plan)
		for _, r := range o.Resources {
			switch r.Status {
			case "ok":
				fmt.Fprintf(w, " %s ok;", r.Resource)
			case "unavailable":
				fmt.Fprintf(w, " %s unavailable (%s);", r.Resource, r.Reason)
			default:
				fmt.Fprintf(w, " %s FAILED (%s);", r.Resource, r.Reason)
			}
		}
		fmt.Fprintln(w)
	}
	for _, miss := range a.MissingOrgs {
		hint := ""
		if miss.DidYouMean != "" {
			hint = fmt.Sprintf(" (did you mean %q? slugs are case-sensitive)", miss.DidYouMean)
		}
		fmt.Fprintf(w, "  org %s: FAILED: configured in orgs but not listed by this token%s\n", miss.Org, hint)
	}
}

// plural writes "1 account" or "3 accounts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// outputFlag adds --output to a command that can print JSON.
func outputFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("output", "text", "text, or json: one JSON document on stdout (docs/operations.md)")
}

func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return &UsageError{Msg: fmt.Sprintf("--output: want text or json, not %q", o)}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
