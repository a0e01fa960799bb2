package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tursync/tursync/daemon"

	"github.com/tursync/tursync/extract"
	tsync "github.com/tursync/tursync/sync"
)

// extractLease is the lease key of a query: one process runs it at a time.
func extractLease(query string) string { return "extract:" + query }

// setTasks schedules the config's extraction queries, webhook endpoints
// (webhookTasks) and exports (exportTasks). The extractor,
// and with it every minted token, is kept across reloads unless the
// extract settings it runs with changed.
func (d *runner) setTasks(cfg Config) error {
	key := fmt.Sprint(cfg.Extract.Concurrency, time.Duration(cfg.Extract.TokenTTL), cfg.Extract.DatabaseURL, cfg.Extract.Proxy)
	if d.extractor.Load() == nil || key != d.extractKey {
		d.extractor.Store(extract.New(d.store.Extracts(), d.w.extractOptions(cfg, d.log, d.metrics)))
		d.extractKey = key
	}
	d.metrics.ExtractAlertShare(cfg.Extract.AlertFailedShare)
	d.metrics.ExtractQueriesRetained(func(q string) bool {
		return slices.ContainsFunc(cfg.Extract.Queries, func(qc ExtractQueryConfig) bool { return qc.Name == q })
	})
	var tasks []daemon.Task
	for _, q := range cfg.Extract.Queries {
		name := q.Name
		tasks = append(tasks, daemon.Task{ID: name, Kind: daemon.TaskExtract, Schedule: cfg.extractSchedule(q), Lease: extractLease(name),
			Run: func(ctx context.Context) error { return d.runQuery(ctx, name) }})
	}
	return d.sched.SetTasks(append(append(tasks, d.webhookTasks(cfg)...), d.exportTasks(cfg)...))
}

// runQuery is one scheduled run of a query, as the config now says it.
func (d *runner) runQuery(ctx context.Context, name string) error {
	cfg := d.cfg.Load()
	i := slices.IndexFunc(cfg.Extract.Queries, func(q ExtractQueryConfig) bool { return q.Name == name })
	if i < 0 {
		return fmt.Errorf("query %s is no longer configured", name)
	}
	sum, err := d.extractor.Load().Run(ctx, cfg.extractQuery(cfg.Extract.Queries[i]), d.w.minters(cfg, d.lims, d.metrics, d.log), tsync.TriggerSchedule)
	if err != nil {
		return err
	}
	d.log.Info("extraction done", "query", name, "ok", sum.OK, "failed", sum.Failed, "skipped", sum.Skipped, "rows", sum.Rows,
		"duration", sum.Duration.Round(time.Millisecond).String())
	return nil
}
