package metrics

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// Recent is what the status page shows beside /status: the last runs and
// the last change events.
type Recent struct {
	Runs    []RunRow
	Changes []ChangeRow
}

// RunRow is one pass of the page's run list.
type RunRow struct {
	ID               int64
	Account, Trigger string
	Status, Error    string
	StartedAt        time.Time
	FinishedAt       time.Time // zero while running
}

// ChangeRow is one change event of the page's list.
type ChangeRow struct {
	ID                   int64
	At                   time.Time
	Account, Org         string
	Entity, EntityID, Op string
	Changes              string
}

//go:embed page/status.html
var pageHTML string

var pageTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"age":   age,
	"when":  when,
	"deref": func(b *bool) bool { return b != nil && *b },
}).Parse(pageHTML))

// pageData is what the template renders: the /status document, whose
// fields the template names, and the recent runs and changes.
type pageData struct {
	Status any
	Recent
}

// page serves the status page: server-rendered, no script, no external
// asset, so it works wherever the listener is reachable.
func page(p Probes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		st, ok := status(ctx, w, p.Status)
		if !ok {
			return
		}
		var rec Recent
		if p.Recent != nil {
			if rec, ok = status(ctx, w, p.Recent); !ok {
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("Cache-Control", "no-store")
		if err := pageTmpl.Execute(w, pageData{st, rec}); err != nil {
			fmt.Fprintf(w, "<p>render: %s</p>", template.HTMLEscapeString(err.Error()))
		}
	}
}

// age writes seconds as "42s", "7m", "3h 5m" or "2d 4h".
func age(secs *float64) string {
	if secs == nil {
		return "never"
	}
	d := time.Duration(*secs) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// when writes a time in UTC, or "–" for none.
func when(t any) string {
	switch v := t.(type) {
	case time.Time:
		if v.IsZero() {
			return "–"
		}
		return v.UTC().Format("2006-01-02 15:04:05Z")
	case *time.Time:
		if v == nil || v.IsZero() {
			return "–"
		}
		return v.UTC().Format("2006-01-02 15:04:05Z")
	}
	return "–"
}
