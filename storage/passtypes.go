package storage

import (
	"time"

	"github.com/tursync/tursync/schema"
)

// Guard is the delete guard (docs/reconcile.md, rule 4): a complete scope that would
// tombstone more than MaxFraction of its live rows, and more than MinRows
// rows, keeps them.
type Guard struct {
	MaxFraction float64
	MinRows     int
}

func (g Guard) trips(toDelete, live int) bool {
	return toDelete > g.MinRows && float64(toDelete) > g.MaxFraction*float64(live)
}

// Counts are rows written by op.
type Counts struct {
	Created, Updated, Deleted, Unchanged int
}

// Add adds c2 to c.
func (c *Counts) Add(c2 Counts) {
	c.Created += c2.Created
	c.Updated += c2.Updated
	c.Deleted += c2.Deleted
	c.Unchanged += c2.Unchanged
}

// Tally counts rows written per label (schema.Resource.LabelOf).
type Tally map[string]Counts

// add counts n rows of op under label t.
func (ta Tally) add(t string, op string, n int) {
	c := ta[t]
	c.count(op, n)
	ta[t] = c
}

// Add adds counts under a label.
func (ta Tally) Add(label string, c Counts) {
	sum := ta[label]
	sum.Add(c)
	ta[label] = sum
}

// tallier counts rows of a table by op; a batch's steps count through one.
type tallier func(t *schema.Table, op string, n int)

// RowIter yields rows one at a time so a scope of any size streams through.
type RowIter func(yield func(schema.Row) error) error

// SliceIter iterates a slice of rows.
func SliceIter[T schema.Row](rows []T) RowIter {
	return func(yield func(schema.Row) error) error {
		for _, r := range rows {
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// Scope is one resource of one org's pass, as the fetch left it.
type Scope struct {
	Resource   string
	Status     string // complete, failed or unavailable after the fetch; guarded is decided here
	ErrorClass string
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time

	// Rows are the scope's entity rows (organization, members, invites,
	// ...) staged by Diff.
	Rows *Staged
	// Users are the account-wide users the scope's rows refer to that
	// may need a write; they are diffed again at the commit, in batches,
	// since an earlier org of the pass may have written them since.
	Users RowIter
	Audit []schema.AuditLog
	Usage *StagedUsage

	// Results, filled by the commit (OrgPass.Commit). Counts are the rows of the resource's
	// guarded feed (what tursync_mirror_rows counts for it); Written counts
	// by label (schema.Resource.LabelOf) every feed the scope wrote: its
	// own, the others (an invite's role assignment) and the users its rows
	// refer to.
	Counts      Counts
	Written     Tally
	DeletesHeld int
	// Planned lists the row changes of a dry run, deletes the guard holds
	// included (at most PlannedLimit; PlannedMore counts the rest). A real
	// pass leaves it empty: its change_events say the same.
	Planned     []PlannedChange
	PlannedMore int
}

// PlannedChange is one row a dry run would create, update, restore or
// tombstone.
type PlannedChange struct {
	Op     string         `json:"op"` // created, updated, restored, deleted
	Table  string         `json:"table"`
	Key    string         `json:"key"`              // the row's key columns joined by "/"
	Fields map[string]any `json:"fields,omitempty"` // column -> {"old", "new"}
	// Held: a delete the guard holds back (what --force-deletes applies).
	Held bool `json:"held,omitempty"`
}

// PlannedLimit caps the changes a dry run lists per scope, so a first dry
// run of a 250,000-database org does not hold them all; the counts stay
// exact.
const PlannedLimit = 10000

// orgCommit is everything one org's commit writes.
type orgCommit struct {
	account      string
	org          string
	runID        int64
	guard        Guard
	forceDeletes bool
	dryRun       bool
	scopes       []*Scope
	// offboard tombstones every row of the org (reason organization_removed),
	// subject to the guard; scopes is then ignored, and set to the one
	// scope the offboarding records.
	offboard bool
}

// TxnWarnAfter is how long a commit on a libSQL server may take before the
// pass warns: sqld rolls back a transaction older than 5 s as soon as
// another writer waits.
const TxnWarnAfter = 3 * time.Second

// tally counts rows whatever their table: a tallier for steps that write
// one table.
func (c *Counts) tally(_ *schema.Table, op string, n int) { c.count(op, n) }

// count adds n rows of op.
func (c *Counts) count(op string, n int) {
	switch op {
	case opCreated, opRestored:
		c.Created += n
	case opUpdated:
		c.Updated += n
	case opDeleted:
		c.Deleted += n
	default:
		c.Unchanged += n
	}
}

const (
	opCreated   = "created"
	opUpdated   = "updated"
	opDeleted   = "deleted"
	opRestored  = "restored"
	opUnchanged = "unchanged"
)
