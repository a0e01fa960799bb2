package schema

import (
	"fmt"
	"strings"
)

// Markdown renders the Dictionary as docs/tables.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# The mirror's tables and views\n\n")
	b.WriteString("Generated from `schema.Dictionary` (each data table's `Doc` in `schema/schema.go`, the rest in `schema/dictionary.go`): do not edit by hand. Run\n")
	b.WriteString("`go test ./schema -run TestTablesDoc -update` after changing the dictionary;\n")
	b.WriteString("`TestTablesDoc` fails while this file is stale. The same dictionary is in\n")
	b.WriteString("every mirror (`SELECT * FROM mirror_columns WHERE table_name = 'role_assignments'`)\n")
	b.WriteString("and behind `tursync schema [TABLE]`.\n\n")
	b.WriteString("Times are RFC 3339 text in UTC. `deleted_at` is when the mirror saw a row gone,\n")
	b.WriteString("not when it happened: `deleted_happened_at` and `deleted_by` have that where the\n")
	b.WriteString("org's audit log explains it (the rules below; docs/history.md).\n\n")
	b.WriteString("| table | kind | what |\n|---|---|---|\n")
	for _, d := range Dictionary {
		if !d.Internal {
			fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", d.Name, d.Name, d.Kind, cell(d.Description))
		}
	}
	b.WriteString("\nInternal (the daemon's own bookkeeping, not for analysts): ")
	var internal []string
	for _, d := range Dictionary {
		if d.Internal {
			internal = append(internal, "`"+d.Name+"`")
		}
	}
	b.WriteString(strings.Join(internal, ", ") + ".\n")
	for _, d := range Dictionary {
		if d.Internal {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\nSource: %s.\n\n| column | type | what | source |\n|---|---|---|---|\n", d.Name, d.Description, d.Source)
		for _, c := range d.Columns {
			what := cell(c.Description)
			for _, v := range c.Values {
				what += "<br>`" + v.Value + "`: " + cell(v.Meaning)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.Name, c.Type, what, cell(c.Source))
		}
	}
	b.WriteString(attributionMarkdown())
	return b.String()
}

// attributionMarkdown lists schema.Attributions: which audit events
// explain which changes.
func attributionMarkdown() string {
	var b strings.Builder
	b.WriteString("\n## Which audit events explain which changes\n\n")
	b.WriteString("A change event takes `happened_at`, `actor` and `source = 'audit_log'` from the\n")
	b.WriteString("latest audit event of its org that has one of the codes and whose data field names\n")
	b.WriteString("the object, created at or before the pass saw the change and not before the\n")
	b.WriteString("scope's previous complete fetch began. Anything else keeps `source = 'observed'`.\n\n")
	b.WriteString("| table | change | codes | data field = | assumed |\n|---|---|---|---|---|\n")
	for _, a := range Attributions {
		change := strings.Join(a.Ops, ", ")
		if a.Column != "" {
			change += " of `" + a.Column + "`"
		}
		if a.Reason != "" {
			change += " (" + a.Reason + ")"
		}
		if a.Where != "" {
			change += " where " + a.Where
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | `%s` = %s | %s |\n", a.Table.Name, cell(change), strings.Join(a.Codes, "`, `"), a.DataField, cell(a.ObjectDoc), cell(a.Assumed))
	}
	b.WriteString("\nNever explained (no code in the spec): " + strings.Join(Unattributed, "; ") + ".\n")
	return b.String()
}

// cell escapes text for a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
