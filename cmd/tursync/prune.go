package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
)

// pruneReport is what prune did, under --output json: the rows it found
// (listed without --yes) or removed.
type pruneReport struct {
	Account   string           `json:"account,omitempty"`
	Query     string           `json:"query,omitempty"`
	Policy    string           `json:"policy,omitempty"`
	Retention bool             `json:"retention,omitempty"`
	Removed   bool             `json:"removed"`
	Rows      map[string]int64 `json:"rows"`
	// Confirm says what removes the listed rows, when nothing was.
	Confirm string `json:"confirm,omitempty"`
}

// errNotConfirmed ends a prune that listed rows without --yes: exit 2.
var errNotConfirmed = &UsageError{Msg: "prune: nothing removed; rerun with --yes to remove them"}

// runPrune removes every row of an account taken out of the config, or
// applies the retention settings now.
func (m *Main) runPrune(ctx context.Context, args []string) error {
	fs := m.flags("prune")
	account := fs.String("account", "", "remove every row of this account (it must no longer be in the config)")
	yes := fs.Bool("yes", false, "confirm the removal")
	retention := fs.Bool("retention", false, "apply the retention settings now, as the daemon does daily")
	query := fs.String("query", "", "remove the results, statuses, runs and view of this extract query (it must no longer be in the config)")
	policyFlag := fs.String("policy", "", "remove the violations and status of this policy (it must no longer be in the config)")
	output := outputFlag(fs)
	cfg, _, err := m.parseWithConfig(fs, args)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	given := 0
	for _, set := range []bool{*account != "", *retention, *query != "", *policyFlag != ""} {
		if set {
			given++
		}
	}
	if given != 1 {
		return &UsageError{Msg: "prune: give one of --account ID, --query NAME, --policy NAME or --retention"}
	}
	p := pruner{m: m, json: *output == "json", yes: *yes}
	if *query != "" {
		return p.query(ctx, cfg, *query)
	}
	if *policyFlag != "" {
		return p.policy(ctx, cfg, *policyFlag)
	}
	if *account != "" && slices.ContainsFunc(cfg.Accounts, func(a AccountConfig) bool { return a.ID == *account }) {
		return &UsageError{Msg: fmt.Sprintf("prune: account %q is still in the config; remove it from accounts first", *account)}
	}
	st, err := m.wiring().openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	if *retention {
		n, err := st.Prune(ctx, cfg.Retention.Storage(), m.Now())
		if err != nil {
			return err
		}
		if p.json {
			return writeJSON(m.Stdout, pruneReport{Retention: true, Removed: true, Rows: n})
		}
		fmt.Fprintf(m.Stdout, "retention: removed %d change_events, %d row_versions, %d sync_runs, %d sync_scopes, %d extract_runs\n", n["change_events"],
			n["row_versions"], n["sync_runs"], n["sync_scopes"], n["extract_runs"])
		return nil
	}
	counts, err := st.AccountRows(ctx, *account)
	if err != nil {
		return err
	}
	return p.finish(pruneReport{Account: *account, Rows: counts}, "account "+*account, func() (map[string]int64, error) {
		return st.PruneAccount(ctx, *account)
	})
}

// pruner prints and confirms one prune.
type pruner struct {
	m    *Main
	json bool
	yes  bool
}

// finish lists what rep found, or removes it with remove when confirmed,
// and says so as text or JSON.
func (p pruner) finish(rep pruneReport, what string, remove func() (map[string]int64, error)) error {
	if len(rep.Rows) == 0 {
		if p.json {
			return writeJSON(p.m.Stdout, rep)
		}
		fmt.Fprintf(p.m.Stdout, "%s has no rows in the mirror\n", what)
		return nil
	}
	if !p.yes {
		rep.Confirm = "rerun with --yes to remove them"
		if p.json {
			if err := writeJSON(p.m.Stdout, rep); err != nil {
				return err
			}
			return errNotConfirmed
		}
		fmt.Fprintf(p.m.Stdout, "%s holds these rows (live and tombstoned):\n", what)
		printTableCounts(p.m, rep.Rows)
		return errNotConfirmed
	}
	removed, err := remove()
	if err != nil {
		return err
	}
	rep.Rows, rep.Removed = removed, true
	if p.json {
		return writeJSON(p.m.Stdout, rep)
	}
	fmt.Fprintf(p.m.Stdout, "removed %s:\n", what)
	printTableCounts(p.m, removed)
	return nil
}

// query removes what a query taken out of the config left in the mirror:
// its results, statuses, runs and view.
func (p pruner) query(ctx context.Context, cfg Config, query string) error {
	if !queryName.MatchString(query) {
		return &UsageError{Msg: fmt.Sprintf("prune: %q is not a query name", query)}
	}
	if slices.ContainsFunc(cfg.Extract.Queries, func(q ExtractQueryConfig) bool { return q.Name == query }) {
		return &UsageError{Msg: fmt.Sprintf("prune: query %q is still in the config; remove it from extract.queries first", query)}
	}
	st, err := p.m.wiring().openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	counts, err := st.Extracts().QueryRows(ctx, query)
	if err != nil {
		return err
	}
	return p.finish(pruneReport{Query: query, Rows: counts}, fmt.Sprintf("query %s (and its view extract_%s)", query, query), func() (map[string]int64, error) {
		return st.Extracts().PruneQuery(ctx, query)
	})
}

func printTableCounts(m *Main, counts map[string]int64) {
	tables := make([]string, 0, len(counts))
	for t := range counts {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fmt.Fprintf(m.Stdout, "  %-17s %d\n", t, counts[t])
	}
}

// policy removes what a policy taken out of the config left in the
// mirror: its violations and status.
func (p pruner) policy(ctx context.Context, cfg Config, name string) error {
	if slices.ContainsFunc(cfg.Policies, func(pc PolicyConfig) bool { return pc.Name == name }) {
		return &UsageError{Msg: fmt.Sprintf("prune: policy %q is still in the config; remove it from policies first", name)}
	}
	st, err := p.m.wiring().openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	counts, err := st.Policies().Rows(ctx, name)
	if err != nil {
		return err
	}
	return p.finish(pruneReport{Policy: name, Rows: counts}, "policy "+name, func() (map[string]int64, error) {
		return st.Policies().Prune(ctx, name)
	})
}
