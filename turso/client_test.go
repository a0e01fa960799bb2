package turso_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/turso/tursotest"
)

// clientToken is distinctive so a leak into an error is unmistakable.
const clientToken = "client-SECRET-5f1e"

type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return nil
}

func client(t *testing.T, url string, w *waits, now time.Time) *turso.Client {
	t.Helper()
	c, err := turso.NewClient(turso.Options{BaseURL: url, Token: turso.NewSecret(clientToken), MaxRetries: 3, Sleep: w.sleep, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		header  string
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"2", 2 * time.Second, 2 * time.Second},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second, 7 * time.Second},
		{"86400", turso.MaxRetryAfter, turso.MaxRetryAfter}, // capped
		{"", 250 * time.Millisecond, time.Second},           // plain backoff
	}
	for _, c := range cases {
		sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 1, Size: tursotest.Size{Orgs: 1, Members: 2}})
		sim.Inject(turso.RouteMembers, "", tursotest.Fault{Status: 429, RetryAfter: c.header, Times: 1})
		w := &waits{}
		ms, err := client(t, url, w, now).ListMembers(context.Background(), "org1")
		if err != nil || len(ms) != 2 {
			t.Fatalf("Retry-After %q: %v (%d members)", c.header, err, len(ms))
		}
		if len(w.d) != 1 || w.d[0] < c.atLeast || w.d[0] > c.atMost {
			t.Errorf("Retry-After %q: waited %v, want between %v and %v", c.header, w.d, c.atLeast, c.atMost)
		}
	}
}

func TestRetriesExhaustedAndClasses(t *testing.T) {
	cases := []struct {
		fault    tursotest.Fault
		class    turso.Class
		attempts int
	}{
		{tursotest.Fault{Status: 500}, turso.ClassServer, 4},
		{tursotest.Fault{Status: 503, Body: "<html>Service Unavailable</html>"}, turso.ClassServer, 4},
		{tursotest.Fault{Status: 429}, turso.ClassRateLimited, 4},
		{tursotest.Fault{Status: 401}, turso.ClassAuth, 1},
		{tursotest.Fault{Status: 402}, turso.ClassPlan, 1},
		{tursotest.Fault{Status: 403}, turso.ClassForbidden, 1},
		{tursotest.Fault{Reset: true}, turso.ClassNetwork, 4},
		{tursotest.Fault{Truncate: true}, turso.ClassDecode, 1},
		{tursotest.Fault{Body: `{"members": "nope"}`}, turso.ClassDecode, 1},
	}
	for _, c := range cases {
		sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 1, Size: tursotest.Size{Orgs: 1, Members: 2}})
		sim.Inject(turso.RouteMembers, "", c.fault)
		w := &waits{}
		_, err := client(t, url, w, time.Now()).ListMembers(context.Background(), "org1")
		if got := turso.ClassOf(err); got != c.class {
			t.Errorf("fault %+v: class %q, want %q (%v)", c.fault, got, c.class, err)
		}
		if got := len(sim.Requests()); got != c.attempts {
			t.Errorf("fault %+v: %d attempts, want %d", c.fault, got, c.attempts)
		}
		if strings.Contains(err.Error(), clientToken) {
			t.Errorf("error mentions the token: %v", err)
		}
	}
}

func TestNonJSONErrorBody(t *testing.T) {
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 1, Size: tursotest.Size{Orgs: 1}})
	sim.Inject(turso.RouteGroups, "", tursotest.Fault{Status: 502, Body: "<html><body>Bad Gateway</body></html>"})
	_, err := client(t, url, &waits{}, time.Now()).ListGroups(context.Background(), "org1")
	var ae *turso.APIError
	if !asAPIError(err, &ae) || ae.Status != 502 || !strings.Contains(ae.Message, "Bad Gateway") {
		t.Errorf("got %v", err)
	}
}

func asAPIError(err error, target **turso.APIError) bool {
	ae, ok := err.(*turso.APIError)
	if ok {
		*target = ae
	}
	return ok
}

func TestOrganizationListShapes(t *testing.T) {
	for _, body := range []string{`[{"slug":"a","name":"A"}]`, `{"organizations":[{"slug":"a","name":"A"}]}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
		orgs, err := client(t, srv.URL, &waits{}, time.Now()).ListOrganizations(context.Background())
		srv.Close()
		if err != nil || len(orgs) != 1 || orgs[0].Slug != "a" || string(orgs[0].Raw) != `{"slug":"a","name":"A"}` {
			t.Errorf("body %s: %+v %v", body, orgs, err)
		}
	}
}

func TestDatabasesPaginateAndDecodeExactKeys(t *testing.T) {
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 2, Size: tursotest.Size{Orgs: 1, Groups: 2, Databases: 2345}})
	var got []turso.Database
	err := client(t, url, &waits{}, time.Now()).ListDatabases(context.Background(), "org1", func(p []turso.Database) error {
		got = append(got, p...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := sim.Databases("org1")
	if len(got) != len(want) {
		t.Fatalf("got %d databases, want %d (pagination)", len(got), len(want))
	}
	if got[5].DbID != want[5].DbID || got[5].Hostname != want[5].Hostname || got[5].PrimaryRegion != want[5].PrimaryRegion || got[5].Group != want[5].Group {
		t.Errorf("decoded %+v, want %+v", got[5], want[5])
	}
	pages := 0
	for _, r := range sim.Requests() {
		if r.Route == turso.RouteDatabases {
			pages++
			if !strings.Contains(r.Query, "limit=1000") {
				t.Errorf("databases request without limit=1000: %s", r.Query)
			}
		}
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
}

func TestDatabasesCursorLoopIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"databases":[{"Name":"a","DbId":"1"}],"pagination":{"next":"same"}}`))
	}))
	defer srv.Close()
	pages := 0
	err := client(t, srv.URL, &waits{}, time.Now()).ListDatabases(context.Background(), "o", func([]turso.Database) error { pages++; return nil })
	if turso.ClassOf(err) != turso.ClassDecode || !strings.Contains(err.Error(), "loop") || pages != 2 {
		t.Errorf("pages %d, err %v", pages, err)
	}
}

func TestUsageReadsTotalThenUsage(t *testing.T) {
	body := `{"organization":{"uuid":"u","usage":{"rows_read":9},"databases":[
		{"uuid":"d1","total":{"rows_read":1}},{"uuid":"d2","usage":{"rows_read":2}}]}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	defer srv.Close()
	var ds []turso.DatabaseUsage
	u, err := client(t, srv.URL, &waits{}, time.Now()).OrganizationUsage(context.Background(), "o", func(p []turso.DatabaseUsage) error {
		ds = append(ds, p...)
		return nil
	})
	if err != nil || u.Usage.RowsRead != 9 || len(ds) != 2 || ds[0].Counters.RowsRead != 1 || ds[1].Counters.RowsRead != 2 {
		t.Errorf("%+v %+v %v", u, ds, err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := turso.NewSecret("abc123")
	for _, out := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if strings.Contains(out, "abc123") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if b, _ := s.MarshalJSON(); strings.Contains(string(b), "abc123") {
		t.Error("secret marshalled")
	}
}

func TestSimulatorCutsUnpaginatedListAt1000(t *testing.T) {
	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 2, Size: tursotest.Size{Orgs: 1, Groups: 1, Databases: 1500}})
	req, _ := http.NewRequest("GET", url+"/v1/organizations/org1/databases", nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 1<<20)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if n := strings.Count(b.String(), `"DbId"`); n != 1000 || strings.Contains(b.String(), "pagination") {
		t.Errorf("unpaginated call returned %d databases", n)
	}
}

// An unreachable API says so as each retry starts waiting; a refused
// connection is retried once, not max_retries times, and names the base
// URL and where it is set; a refused token names where it lives and how to
// make another.
func TestRetriesAndRefusalsSayWhatToDo(t *testing.T) {
	ln := httptest.NewServer(http.NotFoundHandler())
	dead := ln.URL
	ln.Close()
	var logs strings.Builder
	w := &waits{}
	c, err := turso.NewClient(turso.Options{BaseURL: dead, Token: turso.NewSecret(clientToken), MaxRetries: 6, Sleep: w.sleep,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), BaseURLSource: "api.base_url"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListOrganizations(context.Background())
	if turso.ClassOf(err) != turso.ClassNetwork || !strings.Contains(err.Error(), "nothing answers at "+dead+"; check api.base_url") {
		t.Fatalf("got %v, want a network error naming the base URL and api.base_url", err)
	}
	if n := strings.Count(logs.String(), "Platform API unreachable; retrying"); n != 1 {
		t.Errorf("%d retry lines, want 1 (a refused connection is retried once):\n%s", n, logs.String())
	}

	_, url := tursotest.NewServer(t, tursotest.Config{Seed: 1, Size: tursotest.Small, Token: "the-right-token"})
	c, err = turso.NewClient(turso.Options{BaseURL: url, Token: turso.NewSecret(clientToken), TokenSource: "environment variable ACME_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListOrganizations(context.Background())
	if turso.ClassOf(err) != turso.ClassAuth || !strings.Contains(err.Error(), "environment variable ACME_TOKEN") ||
		!strings.Contains(err.Error(), "turso auth api-tokens mint") || strings.Contains(err.Error(), clientToken) {
		t.Errorf("401: %v", err)
	}
}

// Members hands the list on a page at a time as it is decoded, refuses a
// body that lists members twice (the first list was handed on already)
// and returns the caller's own error as it is.
func TestMembersStreamInPages(t *testing.T) {
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 1, Size: tursotest.Size{Orgs: 1, Members: 2500}})
	c := client(t, url, &waits{}, time.Now())
	var sizes []int
	seen := map[string]bool{}
	err := c.Members(context.Background(), "org1", func(page []turso.Member) error {
		sizes = append(sizes, len(page))
		for _, m := range page {
			seen[m.Username] = len(m.Raw) > 0
		}
		return nil
	})
	if err != nil || len(sizes) != 3 || sizes[0] != turso.MembersPage || sizes[2] != 500 {
		t.Fatalf("pages %v, %v; want 1000, 1000, 500", sizes, err)
	}
	for _, m := range sim.Members("org1") {
		if !seen[m.Username] {
			t.Fatalf("member %s missing or without its raw bytes", m.Username)
		}
	}

	sim.Inject(turso.RouteMembers, "", tursotest.Fault{Body: `{"members": [{"username": "a"}], "members": [{"username": "b"}]}`, Times: 1})
	err = c.Members(context.Background(), "org1", func([]turso.Member) error { return nil })
	if turso.ClassOf(err) != turso.ClassDecode || !strings.Contains(err.Error(), "twice") {
		t.Errorf("members listed twice: %v, want a decode error saying so", err)
	}

	stop := errors.New("the caller's own error")
	err = c.Members(context.Background(), "org1", func([]turso.Member) error { return stop })
	if err != stop {
		t.Errorf("the page function's error came back as %v", err)
	}
}

// Every request names the client and its version, as the build stamps it.
func TestUserAgentCarriesTheVersion(t *testing.T) {
	old := turso.Version
	turso.Version = "v9.9.9-test"
	t.Cleanup(func() { turso.Version = old })
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("User-Agent")
		w.Write([]byte(`{"exp": -1}`))
	}))
	defer srv.Close()
	c, err := turso.NewClient(turso.Options{BaseURL: srv.URL, Token: turso.NewSecret(clientToken)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ValidateToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "tursync/v9.9.9-test ") || got != turso.UserAgent() {
		t.Errorf("User-Agent %q", got)
	}
}
