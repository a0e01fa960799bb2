package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
)

// runPrune removes every row of an account taken out of the config, or
// applies the retention settings now.
func (m *Main) runPrune(ctx context.Context, args []string) error {
	fs := m.flags("prune")
	account := fs.String("account", "", "remove every row of this account (it must no longer be in the config)")
	yes := fs.Bool("yes", false, "confirm the removal")
	retention := fs.Bool("retention", false, "apply the retention settings now, as the daemon does daily")
	query := fs.String("query", "", "remove the results, statuses, runs and view of this extract query (it must no longer be in the config)")
	cfg, _, err := m.parseWithConfig(fs, args)
	if err != nil {
		return err
	}
	given := 0
	for _, set := range []bool{*account != "", *retention, *query != ""} {
		if set {
			given++
		}
	}
	if given != 1 {
		return &UsageError{Msg: "prune: give one of --account ID, --query NAME or --retention"}
	}
	if *query != "" {
		return m.pruneQuery(ctx, cfg, *query, *yes)
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
		fmt.Fprintf(m.Stdout, "retention: removed %d change_events, %d sync_runs, %d sync_scopes, %d extract_runs\n", n["change_events"], n["sync_runs"],
			n["sync_scopes"], n["extract_runs"])
		return nil
	}
	counts, err := st.AccountRows(ctx, *account)
	if err != nil {
		return err
	}
	if len(counts) == 0 {
		fmt.Fprintf(m.Stdout, "account %s has no rows in the mirror\n", *account)
		return nil
	}
	if !*yes {
		fmt.Fprintf(m.Stdout, "account %s holds these rows (live and tombstoned):\n", *account)
		printTableCounts(m, counts)
		return &UsageError{Msg: "prune: nothing removed; rerun with --yes to remove them"}
	}
	removed, err := st.PruneAccount(ctx, *account)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "removed account %s:\n", *account)
	printTableCounts(m, removed)
	return nil
}

// pruneQuery removes what a query taken out of the config left in the
// mirror: its results, statuses, runs and view.
func (m *Main) pruneQuery(ctx context.Context, cfg Config, query string, yes bool) error {
	if !queryName.MatchString(query) {
		return &UsageError{Msg: fmt.Sprintf("prune: %q is not a query name", query)}
	}
	if slices.ContainsFunc(cfg.Extract.Queries, func(q ExtractQueryConfig) bool { return q.Name == query }) {
		return &UsageError{Msg: fmt.Sprintf("prune: query %q is still in the config; remove it from extract.queries first", query)}
	}
	st, err := m.wiring().openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	counts, err := st.ExtractQueryRows(ctx, query)
	if err != nil {
		return err
	}
	if len(counts) == 0 {
		fmt.Fprintf(m.Stdout, "query %s has no rows in the mirror\n", query)
		return nil
	}
	if !yes {
		fmt.Fprintf(m.Stdout, "query %s holds these rows (and the view extract_%s):\n", query, query)
		printTableCounts(m, counts)
		return &UsageError{Msg: "prune: nothing removed; rerun with --yes to remove them"}
	}
	removed, err := st.PruneExtractQuery(ctx, query)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "removed query %s and its view extract_%s:\n", query, query)
	printTableCounts(m, removed)
	return nil
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
