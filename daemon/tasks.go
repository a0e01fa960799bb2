package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tursync/tursync/storage"
)

// Task is a scheduled job beside the account passes: an extraction query,
// a webhook endpoint's delivery or an export (Kind says which).
// It runs on its schedule with the jitter of the passes (spread by its
// ID), takes one of the same concurrency slots, holds its lease while it
// runs so that one daemon runs it at a time, and a run still going makes
// the next one skip.
type Task struct {
	ID       string // unique among tasks: the query name, webhook:<id>, export:<id>
	Kind     string // TaskExtract, TaskWebhook or TaskExport
	Schedule string
	Lease    string // the lease key, e.g. extract:<query>
	Run      func(ctx context.Context) error
}

// Task kinds: what /status lists a task under.
const (
	TaskExtract = "extract"
	TaskWebhook = "webhook"
	TaskExport  = "export"
)

type scheduledTask struct {
	task    Task
	entry   cron.EntryID
	running bool
	lastErr string
	// lastRun and lastOK are when its last run (and last successful
	// run) in this process ended.
	lastRun, lastOK time.Time
}

// SetTasks makes the scheduled tasks match tasks: new ones are scheduled,
// removed ones unscheduled (a run in flight finishes), changed ones
// replaced. Every schedule is checked before anything changes.
func (s *Scheduler) SetTasks(tasks []Task) error {
	scheds := map[string]cron.Schedule{}
	for _, t := range tasks {
		sched, _, err := SpreadSchedule("task:"+t.ID, t.Schedule)
		if err != nil {
			return fmt.Errorf("schedule of %s: %w", t.ID, err)
		}
		scheds[t.ID] = sched
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, st := range s.tasks {
		if !slices.ContainsFunc(tasks, func(t Task) bool { return t.ID == id }) {
			s.cron.Remove(st.entry)
			delete(s.tasks, id)
		}
	}
	for _, t := range tasks {
		old := s.tasks[t.ID]
		if old != nil {
			s.cron.Remove(old.entry)
		}
		st := &scheduledTask{task: t}
		if old != nil {
			st.running, st.lastErr, st.lastRun, st.lastOK = old.running, old.lastErr, old.lastRun, old.lastOK
		}
		id := t.ID
		st.entry = s.cron.Schedule(scheds[id], s.wrap("task", func() { s.runTask(id) }))
		s.tasks[id] = st
		s.log.Info("task scheduled", "task", id, "schedule", t.Schedule, "next", scheds[id].Next(s.now()).Format(time.RFC3339))
	}
	return nil
}

// runTask runs one scheduled task under its lease.
func (s *Scheduler) runTask(id string) {
	release, ok := s.slot()
	if !ok {
		return
	}
	defer release()
	s.mu.Lock()
	st := s.tasks[id]
	if st == nil {
		s.mu.Unlock()
		return // removed by a reload while waiting
	}
	st.running = true
	t, leases := st.task, s.leases
	s.mu.Unlock()
	var runErr error
	ran := false
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		st.running, st.lastErr = false, errString(runErr)
		if ran {
			st.lastRun = s.now()
			if runErr == nil {
				st.lastOK = st.lastRun
			}
		}
	}()
	ctx, release, err := leases.Hold(s.ctx, t.Lease)
	var held *storage.LeaseHeldError
	if errors.As(err, &held) {
		s.log.Info("task skipped: another process runs it", "task", id, "holder", held.Holder.Owner)
		return
	}
	if err != nil {
		runErr = err
		s.log.Error("task not started", "task", id, "error", err)
		return
	}
	defer release()
	ran = true
	if runErr = t.Run(ctx); runErr != nil {
		s.log.Error("task failed", "task", id, "error", runErr)
	}
}

// taskStatus lists the tasks for /status with each one's last run as the
// mirror records it.
func (s *Scheduler) taskStatus(ctx context.Context) ([]ExtractStatus, error) {
	runs, err := s.store.Extracts().LastRuns(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ExtractStatus{}
	for _, id := range slices.Sorted(maps.Keys(s.tasks)) {
		st := s.tasks[id]
		if st.task.Kind != TaskExtract {
			continue // webhooks are in Status.Webhooks, exports in Status.Exports
		}
		es := ExtractStatus{Query: id, Schedule: st.task.Schedule, Running: st.running, Error: st.lastErr}
		if e := s.cron.Entry(st.entry); e.Valid() && !e.Next.IsZero() {
			next := e.Next.UTC()
			es.NextRun = &next
		}
		if r, ok := runs[id]; ok {
			lr := &ExtractRunStatus{RunID: r.ID, Trigger: r.Trigger, Status: r.Status, StartedAt: r.StartedAt.UTC(), OK: r.OK,
				Failed: r.Failed, Skipped: r.Skipped, Rows: r.Rows, Error: r.Error}
			if !r.FinishedAt.IsZero() {
				f := r.FinishedAt.UTC()
				lr.FinishedAt = &f
			}
			es.LastRun = lr
		}
		out = append(out, es)
	}
	return out, nil
}

// exportStatus lists the scheduled exports for /status.
func (s *Scheduler) exportStatus() []ExportStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ExportStatus{}
	for _, id := range slices.Sorted(maps.Keys(s.tasks)) {
		st := s.tasks[id]
		if st.task.Kind != TaskExport {
			continue
		}
		es := ExportStatus{Export: strings.TrimPrefix(id, "export:"), Schedule: st.task.Schedule, Running: st.running, Error: st.lastErr}
		if e := s.cron.Entry(st.entry); e.Valid() && !e.Next.IsZero() {
			next := e.Next.UTC()
			es.NextRun = &next
		}
		if !st.lastRun.IsZero() {
			at := st.lastRun.UTC()
			es.LastRunAt = &at
		}
		if !st.lastOK.IsZero() {
			at := st.lastOK.UTC()
			es.LastSuccessAt = &at
		}
		out = append(out, es)
	}
	return out
}
