package tursotest_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/tursync/tursync/turso/tursotest"
)

// TestSimulatorMatchesOfficialSpec validates every response the simulator
// serves against the copy of the official OpenAPI spec in testdata, so the
// simulator cannot drift from the API's documented shapes.
func TestSimulatorMatchesOfficialSpec(t *testing.T) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("testdata/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	sim, url := tursotest.NewServer(t, tursotest.Config{Seed: 5, Size: tursotest.Size{Orgs: 1, Members: 4, Invites: 2, Databases: 30, Groups: 2, APITokens: 3, AuditEvents: 12}})
	doc.Servers = openapi3.Servers{{URL: url}}
	group, db := sim.Groups("org1")[0].Name, sim.Databases("org1")[0].Name
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{
		"/v1/organizations",
		"/v1/organizations/org1",
		"/v1/organizations/org1/members",
		"/v2/organizations/org1/invites",
		"/v1/organizations/org1/databases",
		"/v1/organizations/org1/groups",
		"/v1/organizations/org1/api-tokens",
		"/v1/organizations/org1/audit-logs?page=1&page_size=5",
		"/v1/organizations/org1/usage",
		"/v1/locations",
		"/v1/auth/validate",
		"/v1/user",
		"/v1/organizations/org1/subscription",
		"/v1/organizations/org1/plans",
		"/v1/organizations/org1/invoices?type=all",
		"/v1/organizations/org1/databases/" + db + "/configuration",
		"/v1/organizations/org1/databases/" + db + "/instances",
		"POST /v1/organizations/org1/groups/" + group + "/auth/tokens?expiration=1h&authorization=read-only",
		"POST /v1/organizations/org1/databases/" + db + "/auth/tokens?expiration=2w1d30m&authorization=full-access",
	}
	for _, p := range paths {
		method := "GET"
		if m, rest, ok := strings.Cut(p, " "); ok {
			method, p = m, rest
		}
		req, _ := http.NewRequest(method, url+p, nil)
		req.Header.Set("Authorization", "Bearer contract")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s: no route in the spec: %v", p, err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s: response does not match the spec: %v", p, err)
		}
	}
}
