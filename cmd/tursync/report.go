package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/tursync/tursync/daemon"

	"github.com/tursync/tursync/storage"
	tsync "github.com/tursync/tursync/sync"
	"github.com/tursync/tursync/turso"
)

// syncReport is what `sync --output json` prints: one document for the
// whole pass (docs/operations.md documents it).
type syncReport struct {
	DryRun   bool            `json:"dry_run"`
	OK       bool            `json:"ok"` // no scope or account failed
	Accounts []accountReport `json:"accounts"`
}

type accountReport struct {
	Account         string      `json:"account"`
	RunID           int64       `json:"run_id,omitempty"`
	Status          string      `json:"status"`
	Error           string      `json:"error,omitempty"`
	ErrorClass      string      `json:"error_class,omitempty"`
	APIRequests     int64       `json:"api_requests"`
	Retries         int64       `json:"retries"`
	DurationSeconds *float64    `json:"duration_seconds,omitempty"` // absent when the pass never started
	Orgs            []orgReport `json:"orgs"`
}

type orgReport struct {
	Org     string        `json:"org"`
	Removed bool          `json:"removed,omitempty"`
	Error   string        `json:"error,omitempty"`
	Scopes  []scopeReport `json:"scopes"`
}

type scopeReport struct {
	Resource    string `json:"resource"`
	Status      string `json:"status"`
	ErrorClass  string `json:"error_class,omitempty"`
	Error       string `json:"error,omitempty"`
	Created     int    `json:"created"`
	Updated     int    `json:"updated"`
	Deleted     int    `json:"deleted"`
	Unchanged   int    `json:"unchanged"`
	DeletesHeld int    `json:"deletes_held,omitempty"`
	// Also are the rows the scope wrote beyond its resource's own, by
	// label: the users it refers to, an invite's role assignment.
	Also        map[string]storage.Counts `json:"also_written,omitempty"`
	Release     string                    `json:"release_command,omitempty"`
	Changes     []storage.PlannedChange   `json:"changes,omitempty"` // dry runs only
	ChangesMore int                       `json:"changes_not_listed,omitempty"`
}

func newSyncReport(results []tsync.Result, dry bool) syncReport {
	rep := syncReport{DryRun: dry, OK: true, Accounts: []accountReport{}}
	for _, r := range results {
		ar := accountReport{Account: r.Account, RunID: r.RunID, Status: r.Status, APIRequests: r.Stats.Requests,
			Retries: r.Stats.Retries, Orgs: []orgReport{}}
		if r.Failed() {
			rep.OK = false
		}
		if r.Err != nil {
			ar.Error, ar.ErrorClass = r.Err.Error(), errorClass(r.Err)
		}
		if !r.FinishedAt.IsZero() && !r.StartedAt.IsZero() {
			d := r.FinishedAt.Sub(r.StartedAt).Seconds()
			ar.DurationSeconds = &d
		}
		for _, o := range r.Orgs {
			or := orgReport{Org: o.Org, Removed: o.Removed, Scopes: []scopeReport{}}
			if o.Err != nil && !o.Removed {
				or.Error = o.Err.Error()
			}
			for _, sc := range o.Scopes {
				sr := scopeReport{Resource: sc.Resource, Status: sc.Status, ErrorClass: sc.ErrorClass, Error: sc.Error,
					Created: sc.Counts.Created, Updated: sc.Counts.Updated, Deleted: sc.Counts.Deleted, Unchanged: sc.Counts.Unchanged,
					DeletesHeld: sc.DeletesHeld, Changes: sc.Planned, ChangesMore: sc.PlannedMore}
				if sc.Status == storage.StatusGuarded {
					sr.Release = daemon.ReleaseCommand(r.Account, o.Org)
				}
				for label, c := range sc.Written {
					if label != sc.Resource && c != (storage.Counts{}) {
						if sr.Also == nil {
							sr.Also = map[string]storage.Counts{}
						}
						sr.Also[label] = c
					}
				}
				or.Scopes = append(or.Scopes, sr)
			}
			ar.Orgs = append(ar.Orgs, or)
		}
		rep.Accounts = append(rep.Accounts, ar)
	}
	return rep
}

func errorClass(err error) string {
	var unknown *tsync.UnknownOrgError
	if errors.As(err, &unknown) {
		return string(unknown.Class())
	}
	if errors.Is(err, storage.ErrMirrorGone) {
		return storage.ClassMirror
	}
	return string(turso.ClassOf(err))
}

// printResults prints a per-org summary of a pass; a dry run lists every
// row it would change under its scope.
func printResults(w io.Writer, results []tsync.Result, dry bool) {
	rep := newSyncReport(results, dry)
	for _, a := range rep.Accounts {
		head := "account " + a.Account
		if !dry && a.RunID > 0 {
			head += fmt.Sprintf(" run %d", a.RunID) // 0: the run could not even be recorded
		}
		took := "not started"
		if a.DurationSeconds != nil {
			took = (time.Duration(*a.DurationSeconds * float64(time.Second))).Round(time.Millisecond).String()
		}
		fmt.Fprintf(w, "%s: %s (%d API requests, %d retries, %s)\n", head, a.Status, a.APIRequests, a.Retries, took)
		if a.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", a.Error)
		}
		for _, o := range a.Orgs {
			note := ""
			if o.Removed {
				note = " (vanished from the API: offboarded)"
			}
			if o.Org == "" {
				fmt.Fprintf(w, "  account-wide\n") // the per-account resources
			} else {
				fmt.Fprintf(w, "  org %s%s\n", o.Org, note)
			}
			if o.Error != "" {
				fmt.Fprintf(w, "    error: %s\n", o.Error)
			}
			for _, sc := range o.Scopes {
				printScope(w, sc, dry)
			}
		}
	}
}

func printScope(w io.Writer, sc scopeReport, dry bool) {
	verb := ""
	if dry {
		verb = "would "
	}
	switch sc.Status {
	case storage.StatusFailed, storage.StatusUnavailable:
		fmt.Fprintf(w, "    %-13s %-11s [%s] %s\n", sc.Resource, sc.Status, sc.ErrorClass, sc.Error)
		return
	case storage.StatusInterrupted:
		fmt.Fprintf(w, "    %-13s %-11s not written\n", sc.Resource, sc.Status)
		return
	}
	fmt.Fprintf(w, "    %-13s %-11s %screate %d, update %d, delete %d; unchanged %d\n", sc.Resource, sc.Status, verb,
		sc.Created, sc.Updated, sc.Deleted, sc.Unchanged)
	labels := make([]string, 0, len(sc.Also))
	for label := range sc.Also {
		labels = append(labels, label)
	}
	sort.Strings(labels)
	for _, label := range labels {
		c := sc.Also[label]
		fmt.Fprintf(w, "      and %s: %screate %d, update %d, delete %d; unchanged %d\n", label, verb, c.Created, c.Updated, c.Deleted, c.Unchanged)
	}
	if sc.Status == storage.StatusGuarded {
		fmt.Fprintf(w, "      warning: delete guard held %d deletes; rerun with %s to apply them\n", sc.DeletesHeld,
			strings.TrimPrefix(sc.Release, "tursync sync --config CONFIG "))
	}
	for _, c := range sc.Changes {
		fmt.Fprintf(w, "      %s\n", changeLine(c))
	}
	if sc.ChangesMore > 0 {
		fmt.Fprintf(w, "      ... and %d more changes not listed\n", sc.ChangesMore)
	}
}

// changeLine is one planned change: "+ databases db-1", "~ role_assignments
// org1/u: role_id member -> admin", "- invites 7 (held by the delete guard)".
func changeLine(c storage.PlannedChange) string {
	sign := map[string]string{"created": "+", "updated": "~", "restored": "^", "deleted": "-"}[c.Op]
	line := fmt.Sprintf("%s %s %s", sign, c.Table, c.Key)
	if c.Op == "updated" || c.Op == "restored" {
		cols := make([]string, 0, len(c.Fields))
		for col := range c.Fields {
			cols = append(cols, col)
		}
		sort.Strings(cols)
		var parts []string
		for _, col := range cols {
			f, _ := c.Fields[col].(map[string]any)
			parts = append(parts, fmt.Sprintf("%s %v -> %v", col, f["old"], f["new"]))
		}
		if len(parts) > 0 {
			line += ": " + strings.Join(parts, "; ")
		}
	}
	if c.Held {
		line += " (held by the delete guard; --force-deletes applies it)"
	}
	return line
}
