// Package tursotest is a simulated Turso Platform API: deterministic generated
// orgs at any scale, a mutation API for tests, fault injection per endpoint
// and a request log. Tests, benchmarks, `tursync demo` and `tursync simulate`
// all use it over real HTTP.
package tursotest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Config says what the simulator serves.
type Config struct {
	Seed uint64
	Size Size
	// Token, when set, is the only bearer token accepted; otherwise any
	// non-empty token is.
	Token string
	// Fleet > 0 serves that many accounts: token fleet-<i> (1-based) sees
	// only its own org fleet-<i>-org1 of Size (Size.Orgs is ignored).
	Fleet int
	// Latency delays every response.
	Latency time.Duration
	// Now is the simulator's clock; generated timestamps count back from it.
	Now func() time.Time
	// Tenants, when set, backs every database with a namespace of a real
	// sqld, and the token endpoints mint JWTs it accepts.
	Tenants *TenantBed
}

type org struct {
	Org       Organization
	uuid      string
	Members   []Member
	Invites   []Invite
	Databases []Database
	dbIndex   map[string]int
	Groups    []Group
	Tokens    []APIToken
	Audit     []AuditLog // newest first
	Invoices  []Invoice
	nextInvID int64
	gone      bool // deleted: answers 404 and is not listed
}

// Request is one entry of the request log.
type Request struct {
	At      time.Time
	Account string // "" for the default account, fleet-<i> in fleet mode
	Route   string // the route template
	Org     string
	Query   string
	Status  int
	Faulted bool // answered by an injected fault
}

// Fault is an injected misbehaviour of one endpoint.
type Fault struct {
	Status     int           // answer this status with Body (or a JSON error)
	RetryAfter string        // Retry-After header value to send with Status
	Body       string        // body to send instead of the real one (with Status or 200)
	Times      int           // how many requests it hits; 0 means every one
	After      int           // how many matching requests pass untouched first (page 3 of 5: After 2)
	Delay      time.Duration // wait before answering
	Truncate   bool          // send the real body cut in half
	Malformed  bool          // send invalid JSON
	Reset      bool          // close the connection without an answer
}

type fault struct {
	route, org string
	f          Fault
	left       int
	skip       int
}

// Server is the simulated API. Its exported methods are safe for concurrent
// use with requests in flight.
type Server struct {
	mu       sync.Mutex
	cfg      Config
	r        *rand.Rand
	accounts map[string][]*org // account key -> orgs
	faults   []*fault
	log      []Request
	mux      *http.ServeMux
	churns   int             // calls to Churn, so each changes other databases
	mints    int             // tokens minted
	users    map[string]User // who owns each account's token, when set
	actor    string          // who the mutation API's audit events name; "" the org's owner

	tenantMu sync.Mutex      // held while a namespace is created
	tenants  map[string]bool // namespaces created and seeded
}

// New builds a simulator from cfg.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, r: rand.New(rand.NewPCG(cfg.Seed, 99)), accounts: map[string][]*org{}, users: map[string]User{}}
	now := cfg.Now()
	if cfg.Fleet > 0 {
		size := cfg.Size
		size.Orgs = 1
		for i := 1; i <= cfg.Fleet; i++ {
			key := fmt.Sprintf("fleet-%d", i)
			s.accounts[key] = generate(cfg.Seed+uint64(i), size, key+"-org", now)
		}
	} else {
		s.accounts[""] = generate(cfg.Seed, cfg.Size, "org", now)
	}
	s.routes()
	return s
}

// NewServer starts the simulator on a loopback port for a test and returns
// it with its base URL; the server stops when the test ends.
func NewServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	s := New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	h := func(route string, fn func(acct, slug string, r *http.Request) (any, int)) {
		s.mux.HandleFunc("GET "+route, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, route, fn) })
	}
	h("/v1/organizations", s.listOrgs)
	h("/v1/organizations/{organizationSlug}", s.orgHandler(func(o *org, _ *http.Request) any { return map[string]any{"organization": o.Org} }))
	h("/v1/organizations/{organizationSlug}/members", s.orgHandler(func(o *org, _ *http.Request) any { return map[string]any{"members": nonNil(o.Members)} }))
	h("/v2/organizations/{organizationSlug}/invites", s.orgHandler(func(o *org, _ *http.Request) any { return map[string]any{"invites": nonNil(o.Invites)} }))
	h("/v1/organizations/{organizationSlug}/groups", s.orgHandler(func(o *org, _ *http.Request) any { return map[string]any{"groups": nonNil(o.Groups)} }))
	h("/v1/organizations/{organizationSlug}/api-tokens", s.orgHandler(func(o *org, _ *http.Request) any { return map[string]any{"tokens": nonNil(o.Tokens)} }))
	h("/v1/organizations/{organizationSlug}/databases", s.orgHandler(s.databases))
	h("/v1/organizations/{organizationSlug}/audit-logs", s.orgHandler(s.auditLogs))
	h("/v1/organizations/{organizationSlug}/usage", s.orgHandler(s.usage))
	for _, route := range []string{"/v1/organizations/{organizationSlug}/groups/{groupName}/auth/tokens",
		"/v1/organizations/{organizationSlug}/databases/{databaseName}/auth/tokens"} {
		s.mux.HandleFunc("POST "+route, func(w http.ResponseWriter, r *http.Request) {
			if err := s.prepareTenants(r); err != nil {
				http.Error(w, `{"error":"tenant bed: `+strings.ReplaceAll(err.Error(), `"`, `'`)+`"}`, http.StatusInternalServerError)
				return
			}
			s.serve(w, r, route, s.mintToken)
		})
	}
	s.billingRoutes(h)
	h("/v1/locations", func(string, string, *http.Request) (any, int) { return map[string]any{"locations": Locations}, 200 })
	// Not part of the Platform API: what benchmarks ask of a standalone
	// simulator (tursync simulate).
	s.mux.HandleFunc("GET /_simulator/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	s.mux.HandleFunc("POST /_simulator/churn", func(w http.ResponseWriter, r *http.Request) {
		f, err := strconv.ParseFloat(r.URL.Query().Get("fraction"), 64)
		if err != nil || f <= 0 || f > 1 {
			http.Error(w, "want ?fraction= in (0, 1]", http.StatusBadRequest)
			return
		}
		var n int
		switch r.URL.Query().Get("what") {
		case "", "databases":
			n = s.Churn(f)
		case "members":
			n = s.ChurnMembers(f)
		default:
			http.Error(w, "want ?what=databases or members", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]int{"changed": n})
	})
	h("/v1/auth/validate", func(string, string, *http.Request) (any, int) {
		return map[string]any{"exp": s.cfg.Now().Add(90 * 24 * time.Hour).Unix()}, 200
	})
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// account maps a bearer token to the account it sees.
func (s *Server) account(r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return "", false
	}
	if s.cfg.Fleet > 0 {
		if _, ok := s.accounts[tok]; ok {
			return tok, true
		}
		return "", false
	}
	if s.cfg.Token != "" && tok != s.cfg.Token {
		return "", false
	}
	return "", true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, route string, fn func(acct, slug string, r *http.Request) (any, int)) {
	if s.cfg.Latency > 0 {
		select {
		case <-time.After(s.cfg.Latency):
		case <-r.Context().Done():
			return
		}
	}
	slug := r.PathValue("organizationSlug")
	s.mu.Lock()
	acct, ok := s.account(r)
	entry := Request{At: s.cfg.Now(), Account: acct, Route: route, Org: slug, Query: r.URL.RawQuery}
	var f *Fault
	if ok {
		f = s.takeFault(route, slug)
	}
	var body any
	status := http.StatusUnauthorized
	if ok {
		body, status = fn(acct, slug, r)
	} else {
		body = map[string]string{"error": "token contains an invalid number of segments"}
	}
	var out []byte
	if f == nil || (f.Status == 0 && f.Body == "") {
		out, _ = json.Marshal(body)
	}
	switch {
	case f != nil && f.Status != 0:
		status = f.Status
	case f != nil && f.Body != "" && ok:
		status = http.StatusOK // a replaced body is a 200 unless Status says otherwise
	}
	entry.Status = status
	entry.Faulted = f != nil
	if f != nil && f.Reset {
		entry.Status = 0
	}
	s.log = append(s.log, entry)
	s.mu.Unlock()

	if f != nil {
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case f.Reset:
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case f.Body != "":
			out = []byte(f.Body)
		case f.Status != 0:
			out, _ = json.Marshal(map[string]string{"error": http.StatusText(f.Status)})
		case f.Malformed:
			out = []byte(`{"oops": [1, 2,, }`)
		case f.Truncate:
			out = out[:len(out)/2]
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(out)
}

func (s *Server) takeFault(route, slug string) *Fault {
	for i, f := range s.faults {
		if f.route != route || (f.org != "" && f.org != slug) {
			continue
		}
		if f.skip > 0 {
			f.skip--
			return nil
		}
		out := f.f
		if f.f.Times > 0 {
			f.left--
			if f.left <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return &out
	}
	return nil
}

// Inject adds a fault to the route template (for example
// "/v1/organizations/{organizationSlug}/members") for one org, or every org
// when org is "". The first matching fault wins.
func (s *Server) Inject(route, org string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{route: route, org: org, f: f, left: f.Times, skip: f.After})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ResetLog empties the request log.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// Stats is what the simulator has served since start.
type Stats struct {
	Requests             int            `json:"requests"`
	ByRoute              map[string]int `json:"by_route"`
	MaxRequestsPerSecond map[string]int `json:"max_requests_per_second"` // per account ("" without --fleet)
}

// Stats counts the requests served by route and the busiest second of each
// account.
func (s *Server) Stats() Stats {
	st := Stats{ByRoute: map[string]int{}, MaxRequestsPerSecond: s.MaxRequestsPerSecond()}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.log {
		st.Requests++
		st.ByRoute[r.Route]++
	}
	return st
}

// MaxRequestsPerSecond returns, per account, the most requests seen in any
// one-second window of the log.
func (s *Server) MaxRequestsPerSecond() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := map[string][]time.Time{}
	for _, r := range s.log {
		by[r.Account] = append(by[r.Account], r.At)
	}
	out := map[string]int{}
	for acct, ts := range by {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		best, lo := 0, 0
		for hi := range ts {
			for ts[hi].Sub(ts[lo]) >= time.Second {
				lo++
			}
			best = max(best, hi-lo+1)
		}
		out[acct] = best
	}
	return out
}

func (s *Server) findOrg(acct, slug string) *org {
	for _, o := range s.accounts[acct] {
		if o.Org.Slug == slug && !o.gone {
			return o
		}
	}
	return nil
}

func (s *Server) listOrgs(acct, _ string, _ *http.Request) (any, int) {
	out := []Organization{}
	for _, o := range s.accounts[acct] {
		if !o.gone {
			out = append(out, o.Org)
		}
	}
	return out, 200
}

func (s *Server) orgHandler(fn func(o *org, r *http.Request) any) func(acct, slug string, r *http.Request) (any, int) {
	return func(acct, slug string, r *http.Request) (any, int) {
		o := s.findOrg(acct, slug)
		if o == nil {
			return map[string]string{"error": "organization not found"}, http.StatusNotFound
		}
		body := fn(o, r)
		if e, ok := body.(errorAnswer); ok {
			return map[string]string{"error": e.msg}, e.status
		}
		return body, 200
	}
}

type errorAnswer struct {
	status int
	msg    string
}

type cursor struct {
	F string `json:"f"`
	V int    `json:"v"`
}

// databases pages with limit and cursor; like the real API, a call without
// limit is cut at 1000 rows and says nothing of the rest.
func (s *Server) databases(o *org, r *http.Request) any {
	q := r.URL.Query()
	limit := 1000
	paginate := q.Has("limit")
	if paginate {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n <= 0 {
			return errorAnswer{400, "invalid limit"}
		}
		limit = min(n, 1000)
	}
	offset := 0
	if c := q.Get("cursor"); c != "" {
		raw, err := base64.StdEncoding.DecodeString(c)
		var cur cursor
		if err != nil || json.Unmarshal(raw, &cur) != nil || cur.V < 0 {
			return errorAnswer{400, "invalid cursor"}
		}
		offset = cur.V
	}
	end := min(offset+limit, len(o.Databases))
	page := []Database{}
	if offset < end {
		page = o.Databases[offset:end]
	}
	if !paginate {
		return map[string]any{"databases": page}
	}
	var next *string
	if end < len(o.Databases) {
		b, _ := json.Marshal(cursor{F: "ID", V: end})
		c := base64.StdEncoding.EncodeToString(b)
		next = &c
	}
	return map[string]any{"databases": page, "pagination": map[string]any{"next": next}}
}

func (s *Server) auditLogs(o *org, r *http.Request) any {
	q := r.URL.Query()
	page, size := 1, 100
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if v := q.Get("page_size"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	if page < 1 || size < 1 {
		return errorAnswer{400, "invalid page or page_size"}
	}
	total := len(o.Audit)
	lo := min((page-1)*size, total)
	hi := min(lo+size, total)
	return map[string]any{
		"audit_logs": nonNil(o.Audit[lo:hi]),
		"pagination": map[string]int{"page": page, "page_size": size, "total_pages": (total + size - 1) / size, "total_rows": total},
	}
}

func (s *Server) usage(o *org, _ *http.Request) any {
	type dbUsage struct {
		UUID      string        `json:"uuid"`
		Instances []any         `json:"instances"`
		Total     UsageCounters `json:"total"`
	}
	var sum UsageCounters
	dbs := make([]dbUsage, 0, len(o.Databases))
	for _, d := range o.Databases {
		dbs = append(dbs, dbUsage{UUID: d.DbID, Instances: []any{}, Total: d.usage})
		sum.RowsRead += d.usage.RowsRead
		sum.RowsWritten += d.usage.RowsWritten
		sum.StorageBytes += d.usage.StorageBytes
	}
	return map[string]any{"organization": map[string]any{
		"uuid": o.uuid,
		"usage": map[string]int64{"rows_read": sum.RowsRead, "rows_written": sum.RowsWritten, "databases": int64(len(o.Databases)),
			"locations": int64(len(regions)), "storage_bytes": sum.StorageBytes, "groups": int64(len(o.Groups)), "bytes_synced": 0},
		"databases": dbs,
	}}
}
