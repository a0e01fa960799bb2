// Package statuspage serves the daemon's HTML status page (docs/deploy.md,
// "The status page"): a fleet's first screen answers "is anything wrong"
// (counts by health, then only what fails, is stale, guarded, paused or
// lagging, failing first, paged), charts of the last 24 hours of passes,
// and one page per account with its scopes. Server-rendered, no script,
// no external asset: it works wherever the listener is reachable. /status
// (package metrics) serves the same document whole as JSON.
package statuspage

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/tursync/tursync/daemon"
	"github.com/tursync/tursync/storage"
)

// Source is what the page reads: the /status document and, from the
// mirror, the runs, change events and chart buckets.
type Source struct {
	Status func(ctx context.Context) (daemon.Status, error)
	Mirror Mirror
	Now    func() time.Time
}

// Mirror is what the page reads of the mirror besides /status.
type Mirror interface {
	RecentRuns(ctx context.Context, n int) ([]storage.RunRecord, error)
	RecentChanges(ctx context.Context, n int) ([]storage.ChangeEvent, error)
	StatusPage() *storage.StatusPage
}

// PageSize is how many rows a list shows per page.
const PageSize = 50

// recentRows is how many runs and change events the page lists.
const recentRows = 20

// The charts' span: 24 buckets of an hour, the last one the current hour.
const (
	chartBuckets = 24
	chartStep    = time.Hour
)

//go:embed page/fleet.html
var fleetHTML string

//go:embed page/account.html
var accountHTML string

//go:embed page/common.html
var commonHTML string

var funcs = template.FuncMap{
	"age":   age,
	"when":  when,
	"deref": func(b *bool) bool { return b != nil && *b },
}

var (
	fleetTmpl   = template.Must(template.Must(template.New("fleet").Funcs(funcs).Parse(commonHTML)).Parse(fleetHTML))
	accountTmpl = template.Must(template.Must(template.New("account").Funcs(funcs).Parse(commonHTML)).Parse(accountHTML))
)

// Handler serves the fleet page at / and an account's at /accounts/{id}.
func Handler(src Source) http.Handler {
	if src.Now == nil {
		src.Now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		render(w, r, fleetTmpl, func(ctx context.Context) (any, error) { return fleet(ctx, src, r) })
	})
	mux.HandleFunc("GET /accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		render(w, r, accountTmpl, func(ctx context.Context) (any, error) { return accountPage(ctx, src, r.PathValue("id")) })
	})
	return mux
}

func render(w http.ResponseWriter, r *http.Request, t *template.Template, build func(context.Context) (any, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	data, err := build(ctx)
	if errors.Is(err, daemon.ErrUnknownAccount) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, "status: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("Cache-Control", "no-store")
	if err := t.Execute(w, data); err != nil {
		fmt.Fprintf(w, "<p>render: %s</p>", template.HTMLEscapeString(err.Error()))
	}
}

// Health words, worst first: the attention list's order.
const (
	healthDown    = "down"    // the last pass failed as a whole
	healthFailing = "failing" // scopes failed
	healthGuarded = "guarded" // the delete guard holds deletes back
	healthStale   = "stale"   // a scope's last complete pass is older than 3 schedules
	healthPaused  = "paused"
	healthNoPass  = "no pass yet"
	healthUp      = "up"
)

var healthRank = map[string]int{healthDown: 0, healthFailing: 1, healthGuarded: 2, healthStale: 3, healthPaused: 4, healthNoPass: 5, healthUp: 6}

// accountRow is an account with its health and its scopes' counts.
type accountRow struct {
	daemon.AccountStatus
	// Link is the account's page, relative to the page it is on.
	Link                   string
	Health                 string
	Failed, Guarded, Stale int
}

// scopeRow is a scope that needs attention.
type scopeRow struct {
	Account, Org string
	daemon.ScopeStatus
	Stale bool
}

func rowOf(a daemon.AccountStatus, visit func(org string, sc daemon.ScopeStatus, stale bool)) accountRow {
	row := accountRow{AccountStatus: a, Link: "accounts/" + url.PathEscape(a.ID)}
	each := func(org string, sc daemon.ScopeStatus) {
		stale := sc.AgeSeconds != nil && a.IntervalSeconds > 0 && *sc.AgeSeconds > 3*a.IntervalSeconds && !a.Paused
		switch {
		case sc.LastStatus == storage.StatusFailed:
			row.Failed++
		case sc.LastStatus == storage.StatusGuarded:
			row.Guarded++
		}
		if stale {
			row.Stale++
		}
		if visit != nil {
			visit(org, sc, stale)
		}
	}
	for _, sc := range a.Scopes {
		each("", sc)
	}
	for _, o := range a.Orgs {
		for _, sc := range o.Resources {
			each(o.Org, sc)
		}
	}
	switch {
	case a.Up != nil && !*a.Up:
		row.Health = healthDown
	case row.Failed > 0:
		row.Health = healthFailing
	case row.Guarded > 0:
		row.Health = healthGuarded
	case row.Stale > 0:
		row.Health = healthStale
	case a.Paused:
		row.Health = healthPaused
	case a.LastPass == nil:
		row.Health = healthNoPass
	default:
		row.Health = healthUp
	}
	return row
}

// counts are the fleet's accounts and scopes by health.
type counts struct {
	Accounts                                           int
	Up, Down, Failing, Guarded, Stale, Paused, NoPass  int
	Running                                            int
	Scopes                                             int
	ScopesFailed, ScopesGuarded, ScopesStale, Complete int
}

// pager is one list's page: which rows, and links to the others.
type pager struct {
	Param      string // the query parameter
	Page, Last int
	Total      int
}

func (p pager) Prev() int { return p.Page - 1 }
func (p pager) Next() int { return p.Page + 1 }

// page cuts rows to the one the request names in param (1-based).
func page[T any](r *http.Request, param string, rows []T) ([]T, pager) {
	p := pager{Param: param, Page: 1, Total: len(rows), Last: max(1, (len(rows)+PageSize-1)/PageSize)}
	if n, err := strconv.Atoi(r.URL.Query().Get(param)); err == nil {
		p.Page = min(max(n, 1), p.Last)
	}
	lo := (p.Page - 1) * PageSize
	return rows[lo:min(lo+PageSize, len(rows))], p
}

// fleetView is the fleet page.
type fleetView struct {
	daemon.Status
	Counts         counts
	Attention      []accountRow
	AttentionPager pager
	Scopes         []scopeRow
	ScopesPager    pager
	AccountRows    []accountRow
	AccountsPager  pager
	GuardedShown   []daemon.GuardedScope
	GuardedMore    int
	PoliciesShown  []daemon.PolicyStatus
	PoliciesMore   int
	PoliciesQuiet  int // ok and with no open violation: not listed
	// Tasks are the extraction queries, webhook endpoints and exports
	// that fail or lag, failing first.
	Tasks           []taskRow
	Charts          []chart
	Runs            []storage.RunRecord
	Changes         []storage.ChangeEvent
	ChartsSinceHour time.Time
}

func fleet(ctx context.Context, src Source, r *http.Request) (fleetView, error) {
	st, err := src.Status(ctx)
	if err != nil {
		return fleetView{}, err
	}
	v := fleetView{Status: st}
	if v.Charts, v.ChartsSinceHour, err = charts(ctx, src, ""); err != nil {
		return v, err
	}
	if v.Runs, err = src.Mirror.RecentRuns(ctx, recentRows); err != nil {
		return v, err
	}
	if v.Changes, err = src.Mirror.RecentChanges(ctx, recentRows); err != nil {
		return v, err
	}
	var attention []accountRow
	var scopes []scopeRow
	rows := make([]accountRow, 0, len(st.Accounts))
	for _, a := range st.Accounts {
		row := rowOf(a, func(org string, sc daemon.ScopeStatus, stale bool) {
			v.Counts.Scopes++
			switch {
			case sc.LastStatus == storage.StatusFailed:
				v.Counts.ScopesFailed++
			case sc.LastStatus == storage.StatusGuarded:
				v.Counts.ScopesGuarded++
			case sc.LastStatus == storage.StatusComplete:
				v.Counts.Complete++
			}
			if stale {
				v.Counts.ScopesStale++
			}
			if sc.LastStatus == storage.StatusFailed || sc.LastStatus == storage.StatusGuarded || stale {
				scopes = append(scopes, scopeRow{Account: a.ID, Org: org, ScopeStatus: sc, Stale: stale})
			}
		})
		v.Counts.Accounts++
		if a.Running {
			v.Counts.Running++
		}
		switch row.Health {
		case healthUp:
			v.Counts.Up++
		case healthDown:
			v.Counts.Down++
		case healthFailing:
			v.Counts.Failing++
		case healthGuarded:
			v.Counts.Guarded++
		case healthStale:
			v.Counts.Stale++
		case healthPaused:
			v.Counts.Paused++
		case healthNoPass:
			v.Counts.NoPass++
		}
		if healthRank[row.Health] < healthRank[healthNoPass] {
			attention = append(attention, row)
		}
		rows = append(rows, row)
	}
	// Failing first; among equals, by account id (the document's order).
	slices.SortStableFunc(attention, func(a, b accountRow) int { return cmp.Compare(healthRank[a.Health], healthRank[b.Health]) })
	slices.SortStableFunc(scopes, func(a, b scopeRow) int { return cmp.Compare(scopeRank(a), scopeRank(b)) })
	v.Attention, v.AttentionPager = page(r, "attention", attention)
	v.Scopes, v.ScopesPager = page(r, "scopes", scopes)
	v.AccountRows, v.AccountsPager = page(r, "page", rows)
	v.GuardedShown, v.GuardedMore = firstOf(st.Guarded)
	var loud []daemon.PolicyStatus
	for _, p := range st.Policies {
		if p.Open > 0 || p.Status != "ok" {
			loud = append(loud, p)
		}
	}
	slices.SortStableFunc(loud, func(a, b daemon.PolicyStatus) int { return cmp.Compare(policyRank(a), policyRank(b)) })
	v.PoliciesShown, v.PoliciesMore = firstOf(loud)
	v.PoliciesQuiet = len(st.Policies) - len(loud)
	v.Tasks = tasksOf(st)
	return v, nil
}

func scopeRank(s scopeRow) int {
	switch {
	case s.LastStatus == storage.StatusFailed:
		return 0
	case s.LastStatus == storage.StatusGuarded:
		return 1
	}
	return 2
}

func policyRank(p daemon.PolicyStatus) int {
	switch {
	case p.Status != "ok":
		return 0
	case p.Severity == "critical":
		return 1
	}
	return 2
}

// taskRow is an extraction query, webhook endpoint or export that needs
// attention.
type taskRow struct {
	Kind, Name, Health, Problem string
}

// webhookLag is how old an undelivered change may be before its endpoint
// needs attention (TursyncWebhookLagging's threshold).
const webhookLag = 15 * 60

// tasksOf lists the tasks that fail or lag.
func tasksOf(st daemon.Status) []taskRow {
	var out []taskRow
	for _, e := range st.Extracts {
		switch {
		case e.Error != "":
			out = append(out, taskRow{"extraction", e.Query, healthFailing, e.Error})
		case e.LastRun != nil && (e.LastRun.Status != "ok" || e.LastRun.Failed > 0):
			out = append(out, taskRow{"extraction", e.Query, healthFailing, fmt.Sprintf("last run %s: %d databases failed", e.LastRun.Status, e.LastRun.Failed)})
		}
	}
	for _, w := range st.Webhooks {
		switch {
		case w.Error != "":
			out = append(out, taskRow{"webhook", w.Endpoint, healthFailing, w.Error})
		case w.LastAttempt != nil && w.LastAttempt.Status != "delivered" && w.Behind > 0:
			out = append(out, taskRow{"webhook", w.Endpoint, healthFailing, fmt.Sprintf("%d events behind; last attempt %s: %s", w.Behind, w.LastAttempt.Status, w.LastAttempt.Error)})
		case w.OldestAgeSeconds != nil && *w.OldestAgeSeconds > webhookLag:
			out = append(out, taskRow{"webhook", w.Endpoint, healthStale, fmt.Sprintf("%d events behind, the oldest undelivered for %s", w.Behind, age(w.OldestAgeSeconds))})
		}
	}
	for _, e := range st.Exports {
		if e.Error != "" {
			out = append(out, taskRow{"export", e.Export, healthFailing, e.Error})
		}
	}
	slices.SortStableFunc(out, func(a, b taskRow) int { return cmp.Compare(healthRank[a.Health], healthRank[b.Health]) })
	return out
}

// firstOf is the first PageSize rows, and how many more there are.
func firstOf[T any](rows []T) ([]T, int) {
	if len(rows) <= PageSize {
		return rows, 0
	}
	return rows[:PageSize], len(rows) - PageSize
}

// accountView is one account's page.
type accountView struct {
	GeneratedAt     time.Time
	Account         accountRow
	Charts          []chart
	ChartsSinceHour time.Time
	Runs            []storage.RunRecord
	Guarded         []daemon.GuardedScope
	Policies        []daemon.PolicyStatus
	// StaleScope says whether a scope is stale, by org and resource.
	Stale map[string]bool
}

func accountPage(ctx context.Context, src Source, id string) (accountView, error) {
	st, err := src.Status(ctx)
	if err != nil {
		return accountView{}, err
	}
	i := slices.IndexFunc(st.Accounts, func(a daemon.AccountStatus) bool { return a.ID == id })
	if i < 0 {
		return accountView{}, fmt.Errorf("account %q: %w", id, daemon.ErrUnknownAccount)
	}
	v := accountView{GeneratedAt: st.GeneratedAt, Stale: map[string]bool{}}
	v.Account = rowOf(st.Accounts[i], func(org string, sc daemon.ScopeStatus, stale bool) {
		if stale {
			v.Stale[org+"/"+sc.Resource] = true
		}
	})
	v.Account.Link = url.PathEscape(id) // from /accounts/{id}
	for _, g := range st.Guarded {
		if g.Account == id {
			v.Guarded = append(v.Guarded, g)
		}
	}
	for _, p := range st.Policies {
		if p.Account == id {
			v.Policies = append(v.Policies, p)
		}
	}
	if v.Charts, v.ChartsSinceHour, err = charts(ctx, src, id); err != nil {
		return v, err
	}
	if v.Runs, err = src.Mirror.StatusPage().AccountRuns(ctx, id, recentRows); err != nil {
		return v, err
	}
	return v, nil
}

// IsStale is the template's check of a scope.
func (v accountView) IsStale(org, resource string) bool { return v.Stale[org+"/"+resource] }

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
