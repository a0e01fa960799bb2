package storage

import (
	"strings"

	"github.com/tursync/tursync/schema"
)

// History and attribution: the statements a commit adds for the tables
// that keep their past (schema.HistoryTables). The current version of a
// row is the live row itself; a commit that changes or tombstones one
// first writes the version it ends to row_versions. After every scope,
// the commit matches its change events to the audit log
// (schema.Attributions).

// endVersions adds the statement that writes the current versions of t's
// rows that cond (over the alias r, with args) picks to row_versions,
// ended at the pass's time. It runs before the statement that changes or
// tombstones them, while they still hold the version that ends.
func (p *txBatch) endVersions(t *schema.Table, endedBy, from, cond string, args ...any) {
	if !schema.HasHistory(t) {
		return
	}
	p.add(`INSERT INTO row_versions (account_id, entity, organization_id, row_id, valid_from, valid_to, ended_by, content)
		SELECT r.account_id, ?, r.organization_id, r.`+t.Keys[1]+`, r.updated_at, ?, ?, `+schema.VersionContent(t)+`
		FROM `+from+` WHERE r.deleted_at IS NULL AND `+cond, append([]any{t.Name, p.at, endedBy}, args...)...)
}

// endChangedVersions ends the versions of the rows a section's stage holds
// as changed with a real change (a change of remote_data alone keeps the
// version: the stage's updated_at is NULL).
func (p *txBatch) endChangedVersions(t *schema.Table, stageID string) {
	p.endVersions(t, "changed", t.Quoted()+` r JOIN stage_`+t.Name+` s ON s.account_id = r.account_id AND s.organization_id = r.organization_id AND s.`+t.Keys[1]+` = r.`+t.Keys[1],
		`s.stage_id = ? AND s.stage_op = 'changed' AND s.updated_at IS NOT NULL`, stageID)
}

// tableEvents remembers that the batch writes change events of t, which
// attribute then tries to explain.
func (p *txBatch) tableEvents(t *schema.Table) {
	if p.evTables == nil {
		p.evTables = map[*schema.Table]bool{}
	}
	p.evTables[t] = true
}

// attribute adds, for each table the batch writes change events of, the
// statements that give them the time and author of the audit event that
// explains them, then copy those of deleted events onto the tombstones.
// It runs last, after the org's audit events of this pass are written.
// A commit without change events adds nothing.
func (p *txBatch) attribute(org string) {
	for i, a := range schema.Attributions {
		if p.evTables[a.Table] {
			p.add(attributionUpdates[i], p.runID, p.account, org, a.Table.Name)
		}
	}
	for _, t := range schema.HistoryTables {
		if !p.evTables[t] {
			continue
		}
		id := t.Keys[1]
		p.add(`UPDATE `+t.Quoted()+` SET deleted_happened_at = e.happened_at, deleted_by = e.actor
			FROM change_events e
			WHERE e.run_id = ? AND e.account_id = ? AND e.organization_id = ? AND e.entity = ? AND e.op = 'deleted' AND e.source = 'audit_log'
			  AND `+t.Quoted()+`.account_id = e.account_id AND `+t.Quoted()+`.organization_id = e.organization_id
			  AND `+t.Quoted()+`.`+id+` = substr(e.entity_id, length(e.organization_id) + 2)
			  AND `+t.Quoted()+`.deleted_at IS NOT NULL`, p.runID, p.account, org, t.Name)
	}
}

// attributionUpdates are each rule's UPDATE of change_events, built once
// (bound: run id, account, org, table).
var attributionUpdates = func() []string {
	out := make([]string, len(schema.Attributions))
	for i, a := range schema.Attributions {
		events, match := attributionSQL(a)
		out[i] = `UPDATE change_events AS e SET (happened_at, actor, audit_log_id, source) =
			(SELECT a.created_at, a.author, a.id, 'audit_log' ` + match + `)
			WHERE ` + events + ` AND EXISTS (SELECT 1 ` + match + `)`
	}
	return out
}()

// attributionSQL is a rule's WHERE over the batch's change events (alias
// e; bound: run id, account, org, table) and the FROM ... ORDER BY ...
// LIMIT 1 that finds its audit event: one of the rule's codes, in the
// org, naming the changed object, at or before the pass saw the change
// and not before the scope's previous complete fetch began. Timestamps
// compare as text (RFC 3339, UTC), so the audit log's index on created_at
// serves the window.
func attributionSQL(a schema.Attribution) (events, match string) {
	t := a.Table
	ops := "'" + strings.Join(a.Ops, "', '") + "'"
	events = `e.run_id = ? AND e.account_id = ? AND e.organization_id = ? AND e.entity = ? AND e.source = 'observed' AND e.op IN (` + ops + `)`
	if a.Column != "" {
		events += ` AND json_type(e.changes, '$.` + a.Column + `') IS NOT NULL`
	}
	if a.Reason != "" {
		events += ` AND json_extract(e.changes, '$.deleted_reason.new') = '` + a.Reason + `'`
	}
	codes := "'" + strings.Join(a.Codes, "', '") + "'"
	match = `FROM audit_logs a INDEXED BY audit_logs_object, ` + t.Quoted() + ` r
		WHERE r.account_id = e.account_id AND r.organization_id = e.organization_id AND r.` + t.Keys[1] + ` = substr(e.entity_id, length(e.organization_id) + 2)`
	if a.Where != "" {
		match += ` AND ` + a.Where
	}
	match += `
		  AND a.account_id = e.account_id AND a.organization_id = e.organization_id AND a.code IN (` + codes + `)
		  AND a.created_at <= e.at
		  AND a.created_at >= coalesce((SELECT max(s.started_at) FROM sync_scopes s
		        WHERE s.account_id = e.account_id AND s.organization_id = e.organization_id AND s.resource = '` + feederOf(t) + `'
		          AND s.status IN ('complete', 'guarded') AND s.run_id < e.run_id), '')
		  AND a.object = ` + a.Object + ` AND json_extract(a.data, '$.` + a.DataField + `') = ` + a.Object + `
		ORDER BY a.created_at DESC, a.id LIMIT 1`
	return events, match
}

// feederOf is the resource whose scope writes t's rows (for role
// assignments, members: its rows are the ones the audit log speaks of).
func feederOf(t *schema.Table) string {
	for _, r := range schema.Registry {
		for _, f := range r.Feeds {
			if f.Table == t {
				return r.Name
			}
		}
	}
	return ""
}
