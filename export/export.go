// Package export carries the mirror on to a warehouse (docs/exports.md):
// a first run copies a consistent snapshot of each table, later runs the
// rows that changed after the export's cursor, and the cursor moves with
// the rows (in the same PostgreSQL transaction, postgres.go; in the
// Parquet file that holds them, parquet.go), so a run stopped anywhere
// repeats nothing and loses nothing.
package export

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// Export is one entry of the config's exports.
type Export struct {
	ID string
	// To is the target: postgres://user@host:port/db (no password in it)
	// or parquet:DIR.
	To       string
	Password string
	// Tables and Accounts are globs; none means every one.
	Tables, Accounts []string
}

// Validate says what is wrong with an export, naming the field.
func (e Export) Validate() error {
	if e.ID == "" {
		return errors.New("id is empty")
	}
	u, err := url.Parse(e.To)
	if err != nil {
		return fmt.Errorf("to: not a URL: %w", err)
	}
	if dir, ok := strings.CutPrefix(e.To, "parquet:"); ok {
		if dir == "" {
			return errors.New("to: parquet: needs a directory (parquet:/var/lib/tursync/lake)")
		}
		u.Scheme = "parquet"
	}
	switch u.Scheme {
	case "parquet":
	case "postgres", "postgresql":
		if _, set := u.User.Password(); set {
			return errors.New("to: the URL holds a password; give it in password_env or password_file instead")
		}
	default:
		return fmt.Errorf("to: scheme %q: want postgres://user@host:port/database or parquet:DIR", u.Scheme)
	}
	if _, err := selectTables(e.Tables); err != nil {
		return err
	}
	for _, g := range e.Accounts {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("accounts: %q is not a glob: %w", g, err)
		}
	}
	return nil
}

// Options tune a run.
type Options struct {
	// Full copies every table anew instead of what changed.
	Full bool
	// DryRun does the whole run in the target's transaction and rolls it
	// back: the report says what a run would write.
	DryRun bool
	Now    func() time.Time
}

// Report is what a run wrote.
type Report struct {
	Export string        `json:"export"`
	Tables []TableReport `json:"tables"`
	// Cursor is the mirror's last change event the target now holds.
	Cursor int64 `json:"cursor"`
	DryRun bool  `json:"dry_run,omitempty"`
	Took   time.Duration
}

// TableReport is one table's part of a run.
type TableReport struct {
	Table string `json:"table"`
	// Copy is "full" (the table was copied anew) or "changes".
	Copy string `json:"copy"`
	// Why a full copy: first run, --full, the accounts changed, retention
	// overtook the cursor.
	Why  string `json:"why,omitempty"`
	Rows int64  `json:"rows"`
}

// Rows is every row the run wrote.
func (r Report) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// Run runs the export once: it reads the mirror in one consistent read
// and writes the target in one transaction.
func Run(ctx context.Context, st *storage.Store, e Export, o Options) (Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	start := time.Now()
	rep := Report{Export: e.ID, DryRun: o.DryRun}
	tables, err := selectTables(e.Tables)
	if err != nil {
		return rep, err
	}
	read, err := st.Exports().Begin(ctx)
	if err != nil {
		return rep, err
	}
	defer read.Close()
	pos, err := read.Cursor(ctx)
	if err != nil {
		return rep, err
	}
	accounts, err := matchAccounts(ctx, read, e.Accounts)
	if err != nil {
		return rep, err
	}
	target, err := openTarget(ctx, e)
	if err != nil {
		return rep, err
	}
	defer target.close()
	w := &run{read: read, pos: pos, accounts: accounts, o: o, export: e.ID}
	if err := target.write(ctx, w, tables, &rep); err != nil {
		return rep, err
	}
	rep.Cursor, rep.Took = pos.Event, time.Since(start)
	return rep, nil
}

// matchAccounts are the mirror's accounts the globs match.
func matchAccounts(ctx context.Context, read *storage.ExportRead, globs []string) ([]string, error) {
	all, err := read.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	if len(globs) == 0 {
		return all, nil
	}
	out := []string{}
	for _, a := range all {
		if slices.ContainsFunc(globs, func(g string) bool { ok, _ := path.Match(g, a); return ok }) {
			out = append(out, a)
		}
	}
	return out, nil
}

// run is one run's read of the mirror.
type run struct {
	export   string
	read     *storage.ExportRead
	pos      storage.Position
	accounts []string
	o        Options
}

// accountsKey identifies the accounts a table was copied for: another set
// needs a full copy.
func (w *run) accountsKey() string { return strings.Join(w.accounts, ",") }

// dayBefore is the day before a YYYY-MM-DD day ("" stays "").
func dayBefore(day string) string {
	t, err := time.Parse("2006-01-02", day)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, -1).Format("2006-01-02")
}

// target is where an export writes: PostgreSQL or Parquet files.
type target interface {
	// write brings the tables up to the run's position, with their
	// cursors, all or nothing per table at least.
	write(ctx context.Context, w *run, tables []*table, rep *Report) error
	close()
}

func openTarget(ctx context.Context, e Export) (target, error) {
	if dir, ok := strings.CutPrefix(e.To, "parquet:"); ok {
		return openParquet(e.ID, dir)
	}
	return openPostgres(ctx, e)
}

// sink takes the rows a run copies into one table: add gets a row's
// columns (and, for rows change events named, the last event's op, time
// and actor after them); phase says why the rows that follow are copied.
type sink interface {
	add(vals []any) error
	phase(op string)
}

// What the rows of a Parquet file's _op say.
const (
	opSnapshot = "snapshot" // a whole copy
	opEvent    = ""         // the op of the row's last change event
	opBaseline = "baseline" // a scope's first pass wrote it, with no event
	opAppended = "appended" // an append-only table's new row
	opUpsert   = "upsert"   // a row a table re-copied as it is now
)

// fullWhy says why a table is copied whole this run, "" when only its
// changes are: the first run, --full, other accounts, a column the target
// lacked (added), or retention past its cursor.
func (w *run) fullWhy(t *table, st tableState, found bool, added string) string {
	switch {
	case w.o.Full:
		return "--full"
	case !found:
		return "first run"
	case added != "":
		// The target's rows have no value of it: only the mirror has.
		return "new column " + added
	case st.Accounts != w.accountsKey():
		return "the accounts changed"
	case (t.mode == modeEntity || t.mode == modeEvents) && w.pos.Overtaken(st.ExportCursor):
		return fmt.Sprintf("retention removed change events after the cursor (%d; the oldest kept is %d)", st.Event, w.pos.OldestEvent)
	case t.mode == modeAppend && t.lastRowid(w.pos.ExportCursor) < t.lastRowid(st.ExportCursor):
		// Its rows only grow: fewer means another mirror, or one
		// restored from an older backup, whose new rows would reuse
		// rowids the cursor has passed.
		return fmt.Sprintf("the mirror's %s ends before the cursor (rowid %d; the cursor is at %d): restored or replaced", t.name, t.lastRowid(w.pos.ExportCursor), t.lastRowid(st.ExportCursor))
	}
	return ""
}

// filter is the rows of t the export carries, of one org when org is set.
func (w *run) filter(t *table, org *string) storage.ExportFilter {
	if t.accountWide {
		return storage.ExportFilter{}
	}
	return storage.ExportFilter{Accounts: w.accounts, Org: org}
}

// changes hands a sink what changed in t after the table's cursor: the
// same rows whatever the target.
func (w *run) changes(ctx context.Context, t *table, st tableState, up sink) error {
	cols := t.columnNames()
	switch t.mode {
	case modeWhole:
		up.phase(opUpsert)
		return w.read.Scan(ctx, t.name, cols, w.filter(t, nil), up.add)
	case modeAppend, modeEvents:
		// The rows added since, by rowid (change_events' is its id).
		up.phase(opAppended)
		f := w.filter(t, nil)
		f.After, f.UpTo = t.lastRowid(st.ExportCursor), t.lastRowid(w.pos.ExportCursor)
		if t.mode == modeEvents {
			f.After, f.UpTo = st.Event, w.pos.Event
		}
		if f.UpTo <= f.After {
			return nil
		}
		return w.read.Scan(ctx, t.name, cols, f, up.add)
	case modeUsage:
		// Usage has no change events: the orgs whose usage scope wrote
		// since the cursor are copied again, from the day before the last
		// one copied (a pass over midnight writes the day it started).
		up.phase(opUpsert)
		if w.pos.Scope <= st.Scope {
			return nil
		}
		written, err := w.read.Written(ctx, w.accounts, schema.ResUsage, st.Scope, w.pos.Scope)
		if err != nil {
			return err
		}
		for _, s := range written {
			org := s.Org
			f := storage.ExportFilter{Accounts: []string{s.Account}, Org: &org, DayFrom: dayBefore(st.UsageDay)}
			if err := w.read.Scan(ctx, t.name, cols, f, up.add); err != nil {
				return err
			}
		}
		return nil
	}
	// An entity table: the rows events name, then the slices whose first
	// pass wrote without events (and the account's users with them).
	if w.pos.Event > st.Event {
		up.phase(opEvent)
		if err := w.read.Changed(ctx, t.schema, cols, w.accounts, st.Event, w.pos.Event, up.add); err != nil {
			return err
		}
	}
	if w.pos.Scope <= st.Scope {
		return nil
	}
	baselines, err := w.read.Baselines(ctx, w.accounts, st.Scope, w.pos.Scope)
	if err != nil {
		return err
	}
	up.phase(opBaseline)
	usersOf := map[string]bool{}
	for _, b := range baselines {
		usersOf[b.Account] = true
		res := schema.Lookup(b.Resource)
		if res == nil || !feeds(res, t.schema) {
			continue
		}
		org := b.Org
		f := storage.ExportFilter{Accounts: []string{b.Account}, Org: &org}
		if err := w.read.Scan(ctx, t.name, cols, f, up.add); err != nil {
			return err
		}
	}
	if t.schema == schema.Users {
		for a := range usersOf {
			if err := w.read.Scan(ctx, t.name, cols, storage.ExportFilter{Accounts: []string{a}}, up.add); err != nil {
				return err
			}
		}
	}
	return nil
}

func feeds(r *schema.Resource, t *schema.Table) bool {
	for _, f := range r.Feeds {
		if f.Table == t {
			return true
		}
	}
	return false
}
