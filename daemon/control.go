package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
)

// What the control API and `tursync accounts` record as a pass's trigger
// (sync_runs.trigger; docs/control.md).
const (
	TriggerAPI     = "api"     // POST /api/v1/accounts/{id}/sync
	TriggerRequest = "request" // tursync accounts sync, claimed by a daemon
)

// Why a pass asked for does not start.
var (
	ErrUnknownAccount = errors.New("no account of that id in this daemon's config")
	ErrPassRunning    = errors.New("a pass of the account is running or waiting for a slot")
	ErrPaused         = errors.New("the account is paused: resume it first")
	ErrStopping       = errors.New("the daemon is shutting down")
)

// startWait bounds how long RunNow waits for the pass to begin its run (it
// may wait for one of the concurrency slots): past it, the pass is queued
// and RunNow answers without its id.
const startWait = 20 * time.Second

// passRequest is a pass asked for outside the schedule.
type passRequest struct {
	trigger, by string
	started     chan startResult // gets one answer
}

type startResult struct {
	runID int64
	err   error
}

// answer tells the asker the run's id or why there is none; only the
// first answer counts. A nil request (a scheduled pass) ignores it.
func (r *passRequest) answer(runID int64, err error) {
	if r == nil {
		return
	}
	select {
	case r.started <- startResult{runID, err}:
	default:
	}
}

// RunNow starts a pass of the account now, outside its schedule, and
// returns its run id once the run began (0 and no error: queued behind
// the concurrency slots for longer than startWait). It refuses while a
// pass of the account is busy, and for a paused account.
func (s *Scheduler) RunNow(ctx context.Context, id, trigger, by string) (int64, error) {
	if !s.schedules(id) {
		return 0, ErrUnknownAccount
	}
	// A pause answers first: it says more than a pass in flight.
	c, err := s.store.Controls().Get(ctx, id)
	if err != nil {
		return 0, err
	}
	if c.Paused {
		return 0, ErrPaused
	}
	s.mu.Lock()
	sj := s.jobs[id]
	switch {
	case s.stopped:
		s.mu.Unlock()
		return 0, ErrStopping
	case sj == nil:
		s.mu.Unlock()
		return 0, ErrUnknownAccount
	case sj.busy:
		s.mu.Unlock()
		return 0, ErrPassRunning
	}
	sj.busy = true // reserved: pass takes it over
	s.mu.Unlock()
	req := &passRequest{trigger: trigger, by: by, started: make(chan startResult, 1)}
	go s.wrap("account_pass", func() { s.pass(id, req) }).Run()
	t := time.NewTimer(startWait)
	defer t.Stop()
	select {
	case r := <-req.started:
		return r.runID, r.err
	case <-t.C:
		return 0, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// paused says whether a scheduled pass of the account skips: paused in
// the mirror. A pause that cannot be read lets the pass run: the mirror
// does not answer, so the pass fails on it at its start (before any API
// request) and is counted, and the outage shows (account_up 0) instead of
// hiding behind skipped passes.
func (s *Scheduler) paused(id string) bool {
	c, err := s.store.Controls().Get(s.ctx, id)
	if err != nil {
		s.log.Warn("account pause not read; the pass runs", tsync.KeyAccount, id, "error", err)
		return false
	}
	if c.Paused {
		s.log.Info("account pass skipped: paused", tsync.KeyAccount, id, "paused_by", c.PausedBy, "paused_at", c.PausedAt.Format(time.RFC3339))
	}
	return c.Paused
}

// FollowControls reads the accounts' controls from the mirror, where
// `tursync accounts` and other daemons write them: it sets each scheduled
// account's paused gauge, and runs a pass for each pending sync request
// of an account this daemon schedules and has no pass of busy (claiming
// the request in the mirror, so one daemon gets it, and recording the
// run). The daemon calls it every few seconds.
func (s *Scheduler) FollowControls(ctx context.Context) {
	all, err := s.store.Controls().List(ctx)
	if err != nil {
		s.log.Warn("account controls not read", "error", err)
		return
	}
	paused := map[string]bool{}
	for _, c := range all {
		paused[c.Account] = c.Paused
	}
	s.mu.Lock()
	for id := range s.jobs {
		s.metrics.Paused(id, paused[id])
	}
	s.mu.Unlock()
	for _, c := range all {
		if c.SyncRequestedAt.IsZero() || !c.SyncClaimedAt.IsZero() {
			continue
		}
		s.mu.Lock()
		sj := s.jobs[c.Account]
		free := sj != nil && !sj.busy && !s.stopped
		s.mu.Unlock()
		if !free {
			continue // not ours, or ours once the pass in flight ends
		}
		by, ok, err := s.store.Controls().ClaimSyncRequest(ctx, c.Account)
		if err != nil {
			s.log.Warn("sync request not claimed", tsync.KeyAccount, c.Account, "error", err)
			continue
		}
		if !ok {
			continue // another daemon took it
		}
		runID, err := s.RunNow(ctx, c.Account, TriggerRequest, by)
		if err != nil {
			s.log.Warn("requested pass not started", tsync.KeyAccount, c.Account, "by", by, "error", err)
			continue
		}
		if runID != 0 {
			if err := s.store.Controls().RecordSyncRun(ctx, c.Account, runID); err != nil {
				s.log.Warn("requested pass not recorded", tsync.KeyAccount, c.Account, "error", err)
			}
		}
	}
}

// ControlHandler serves the control API (docs/control.md) under
// /api/v1/. caller names who made a request (the basic auth user, or the
// client certificate's subject); every call is logged with it.
func (s *Scheduler) ControlHandler(caller func(*http.Request) string) http.Handler {
	mux := http.NewServeMux()
	logged := func(pattern string, h func(w http.ResponseWriter, r *http.Request, by string) (int, any)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			by := caller(r)
			code, body := h(w, r, by)
			lvl := s.log.Info
			if code >= 400 {
				lvl = s.log.Warn
			}
			lvl("control call", "method", r.Method, "path", r.URL.Path, "caller", by, "status", code)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(body)
		})
	}
	logged("POST /api/v1/accounts/{id}/sync", func(_ http.ResponseWriter, r *http.Request, by string) (int, any) {
		id := r.PathValue("id")
		runID, err := s.RunNow(r.Context(), id, TriggerAPI, by)
		switch {
		case err == nil && runID == 0:
			return http.StatusAccepted, map[string]any{"account": id, "status": "queued",
				"message": "the pass waits for a concurrency slot; GET /status shows it"}
		case err == nil:
			return http.StatusAccepted, map[string]any{"account": id, "run_id": runID, "status": "running"}
		}
		return controlError(err)
	})
	for _, action := range []string{"pause", "resume"} {
		paused := action == "pause"
		logged("POST /api/v1/accounts/{id}/"+action, func(_ http.ResponseWriter, r *http.Request, by string) (int, any) {
			id := r.PathValue("id")
			if !s.schedules(id) {
				return controlError(ErrUnknownAccount)
			}
			if err := s.store.Controls().SetPaused(r.Context(), id, paused, by); err != nil {
				return controlError(err)
			}
			s.metrics.Paused(id, paused)
			c, err := s.store.Controls().Get(r.Context(), id)
			if err != nil {
				return controlError(err)
			}
			return http.StatusOK, controlOf(c)
		})
	}
	logged("GET /api/v1/runs/{id}", func(_ http.ResponseWriter, r *http.Request, _ string) (int, any) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			return http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("run id %q is not a number", r.PathValue("id"))}
		}
		run, err := s.store.Controls().Run(r.Context(), id)
		if err != nil {
			return controlError(err)
		}
		return http.StatusOK, runOf(run)
	})
	logged("/api/v1/", func(_ http.ResponseWriter, r *http.Request, _ string) (int, any) {
		return http.StatusNotFound, map[string]any{"error": "no such endpoint: " + r.Method + " " + r.URL.Path + " (docs/control.md lists them)"}
	})
	return mux
}

// schedules reports whether the account is one of this daemon's.
func (s *Scheduler) schedules(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id] != nil
}

// controlError is an error's status code and body.
func controlError(err error) (int, any) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrUnknownAccount), errors.Is(err, storage.ErrNoRun):
		code = http.StatusNotFound
	case errors.Is(err, ErrPassRunning), errors.Is(err, ErrPaused):
		code = http.StatusConflict
	case errors.Is(err, ErrStopping):
		code = http.StatusServiceUnavailable
	}
	return code, map[string]any{"error": err.Error()}
}

// ControlState is an account's controls as the API and /status show them.
type ControlState struct {
	Account  string     `json:"account"`
	Paused   bool       `json:"paused"`
	PausedAt *time.Time `json:"paused_at,omitempty"`
	PausedBy string     `json:"paused_by,omitempty"`
}

func controlOf(c storage.AccountControl) ControlState {
	st := ControlState{Account: c.Account, Paused: c.Paused, PausedBy: c.PausedBy}
	if c.Paused && !c.PausedAt.IsZero() {
		at := c.PausedAt.UTC()
		st.PausedAt = &at
	}
	return st
}

// RunState is a pass as GET /api/v1/runs/{id} shows it.
type RunState struct {
	ID          int64      `json:"id"`
	Account     string     `json:"account"`
	Trigger     string     `json:"trigger"`
	Status      string     `json:"status"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	Created     int        `json:"rows_created"`
	Updated     int        `json:"rows_updated"`
	Deleted     int        `json:"rows_deleted"`
	Unchanged   int        `json:"rows_unchanged"`
	APIRequests int64      `json:"api_requests"`
	Error       string     `json:"error,omitempty"`
}

func runOf(r storage.RunRecord) RunState {
	st := RunState{ID: r.ID, Account: r.Account, Trigger: r.Trigger, Status: r.Status, StartedAt: r.StartedAt.UTC(), Error: r.Error,
		Created: r.Counts.Created, Updated: r.Counts.Updated, Deleted: r.Counts.Deleted, Unchanged: r.Counts.Unchanged, APIRequests: r.APIRequests}
	if !r.FinishedAt.IsZero() {
		at := r.FinishedAt.UTC()
		st.FinishedAt = &at
	}
	return st
}
