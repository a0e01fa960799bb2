package policy

import (
	"fmt"
	"strings"
)

// BuiltinsMarkdown renders the built-in pack for docs/policies.md: each
// builtin with its parameters and its SQL, as the code holds them.
func BuiltinsMarkdown() string {
	var b strings.Builder
	for _, bi := range Builtins {
		fmt.Fprintf(&b, "\n### `%s`\n\n%s\n\n", bi.Name, bi.Description)
		if len(bi.Params) > 0 {
			b.WriteString("| param | kind | default | what |\n|---|---|---|---|\n")
			for _, p := range bi.Params {
				def := "required"
				if p.Default != nil {
					def = fmt.Sprintf("`%v`", p.Default)
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.Name, p.Kind, def, strings.ReplaceAll(p.Doc, "|", `\|`))
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "```sql\n%s\n```\n", bi.SQL)
	}
	return b.String()
}
