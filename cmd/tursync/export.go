package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tursync/tursync/daemon"
	"github.com/tursync/tursync/export"
	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
)

// ErrExportFailed means an export failed: exit 1.
var ErrExportFailed = errors.New("an export failed")

// runExport is `tursync export`: the configured exports (or one) run once,
// or `tursync export access-review`.
func (m *Main) runExport(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "access-review" {
		return m.runAccessReview(ctx, args[1:])
	}
	fs := m.flags("export")
	only := fs.String("export", "", "run only this export (exports[].id)")
	full := fs.Bool("full", false, "copy every table anew instead of what changed since the cursor")
	dry := fs.Bool("dry-run", false, "run in the target's transaction and roll it back: report what a run would write")
	output := outputFlag(fs)
	cfg, _, err := m.parseWithConfig(fs, args)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	var todo []ExportConfig
	for _, e := range cfg.Exports {
		if *only == "" || e.ID == *only {
			todo = append(todo, e)
		}
	}
	if len(todo) == 0 {
		if *only != "" {
			return &UsageError{Msg: fmt.Sprintf("export: --export %q is not in the config's exports", *only)}
		}
		return &UsageError{Msg: "export: the config has no exports (docs/exports.md), and no subcommand was given (access-review)"}
	}
	st, err := m.wiring().openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	var reports []export.Report
	failed := false
	for _, ec := range todo {
		rep, err := runOneExport(ctx, st, ec, m.Getenv, export.Options{Full: *full, DryRun: *dry, Now: m.Now}, "manual")
		if err != nil {
			failed = true
			fmt.Fprintf(m.Stderr, "export %s failed: %v\n", ec.ID, err)
			continue
		}
		reports = append(reports, rep)
	}
	if *output == "json" {
		if err := writeJSON(m.Stdout, reports); err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			verb := "wrote"
			if r.DryRun {
				verb = "would write (dry run, rolled back)"
			}
			fmt.Fprintf(m.Stdout, "export %s: %s %d rows up to change event %d in %s\n", r.Export, verb, r.Rows(), r.Cursor, r.Took.Round(time.Millisecond))
			for _, t := range r.Tables {
				why := ""
				if t.Why != "" {
					why = " (" + t.Why + ")"
				}
				fmt.Fprintf(m.Stdout, "  %-18s %-7s %d rows%s\n", t.Table, t.Copy, t.Rows, why)
			}
		}
	}
	if failed {
		return ErrExportFailed
	}
	return nil
}

// exportLease is an export's lease key: one process runs it at a time.
func exportLease(id string) string { return "export:" + id }

// exportTasks schedules the exports that have a schedule.
func (d *runner) exportTasks(cfg Config) []daemon.Task {
	var tasks []daemon.Task
	for _, e := range cfg.Exports {
		if e.Schedule == "" {
			continue
		}
		id := e.ID
		tasks = append(tasks, daemon.Task{ID: exportLease(id), Kind: daemon.TaskExport, Schedule: e.Schedule, Lease: exportLease(id),
			Run: func(ctx context.Context) error { return d.runExport(ctx, id) }})
	}
	d.metrics.ExportsRetained(func(id string) bool {
		return slices.ContainsFunc(cfg.Exports, func(e ExportConfig) bool { return e.ID == id })
	})
	return tasks
}

// runExport is one scheduled run of an export, as the config now says
// it; the metrics get its rows, its outcome and its lag.
func (d *runner) runExport(ctx context.Context, id string) error {
	cfg := d.cfg.Load()
	i := slices.IndexFunc(cfg.Exports, func(e ExportConfig) bool { return e.ID == id })
	if i < 0 {
		return fmt.Errorf("export %s is no longer configured", id)
	}
	d.log.Debug("export started", "export", id)
	rep, err := runOneExport(ctx, d.store, cfg.Exports[i], d.w.getenv, export.Options{Now: d.w.now}, tsync.TriggerSchedule)
	lag := int64(-1)
	if head, herr := d.store.Exports().Head(ctx); herr == nil && err == nil {
		lag = max(head-rep.Cursor, 0)
	}
	rows := map[string]int64{}
	for _, t := range rep.Tables {
		rows[t.Table] += t.Rows
	}
	d.metrics.ExportRan(id, rows, err == nil, float64(d.w.now().UnixNano())/1e9, lag)
	if err != nil {
		return err
	}
	d.log.Info("export done", "export", id, "rows", rep.Rows(), "cursor", rep.Cursor, "duration", rep.Took.Round(time.Millisecond).String())
	return nil
}

// runOneExport runs an export once and records the run in export_runs (a
// dry run is not recorded): a failed one is a webhook's export.failed.
func runOneExport(ctx context.Context, st *storage.Store, ec ExportConfig, getenv func(string) string, o export.Options, trigger string) (export.Report, error) {
	start := o.Now()
	e, err := ec.export(getenv)
	class := "config"
	var rep export.Report
	if err == nil {
		class = "mirror"
		rep, err = export.Run(ctx, st, e, o)
	}
	if o.DryRun {
		return rep, err
	}
	run := storage.ExportRun{Export: ec.ID, Trigger: trigger, StartedAt: start, FinishedAt: o.Now(), Err: err, Rows: rep.Rows(), Cursor: rep.Cursor}
	var te *export.TargetError
	switch {
	case errors.As(err, &te):
		run.ErrorClass = te.Class
	case err != nil:
		run.ErrorClass = class
	}
	if rerr := st.Exports().RecordRun(ctx, run); rerr != nil && err == nil {
		err = rerr
	}
	return rep, err
}
