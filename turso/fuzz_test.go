package turso_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tursync/tursync/turso"
)

// fuzzServer is one loopback server per fuzz worker process: executions
// run one after another in a worker, so each sets the bodies it serves, and
// the shared keep-alive client spares a TCP handshake per request.
var fuzzServer struct {
	once   sync.Once
	url    string
	client *http.Client
	bodies atomic.Pointer[[]string]
	served atomic.Int64
}

// fuzzClient serves body (or, for paging, the bodies in turn) to a client
// that never retries, so each input costs one request.
func fuzzClient(t *testing.T, bodies ...string) *turso.Client {
	fuzzServer.once.Do(func() {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bs := *fuzzServer.bodies.Load()
			i := int(fuzzServer.served.Add(1) - 1)
			w.Write([]byte(bs[min(i, len(bs)-1)]))
		}))
		fuzzServer.url, fuzzServer.client = srv.URL, srv.Client()
	})
	fuzzServer.bodies.Store(&bodies)
	fuzzServer.served.Store(0)
	c, err := turso.NewClient(turso.Options{BaseURL: fuzzServer.url, HTTPClient: fuzzServer.client, Token: turso.NewSecret("fuzz"),
		MaxRetries: 0, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkClass fails unless err is nil or a decode error: a 200 with any body
// must never panic, and never be mistaken for an auth, plan or server fault.
func checkClass(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && turso.ClassOf(err) != turso.ClassDecode {
		t.Fatalf("%s: error of class %q, want decode: %v", what, turso.ClassOf(err), err)
	}
}

// FuzzDecoders feeds one body to the decoder of every resource.
func FuzzDecoders(f *testing.F) {
	f.Add(`{"members":[{"username":"a","role":"owner","email":"a@x"}]}`)
	f.Add(`[{"name":"Acme","slug":"acme","type":"team"}]`)
	f.Add(`{"organizations":[{"slug":"a"}]}`)
	f.Add(`{"invites":[{"email":"x@y","role":"admin","accepted":false}]}`)
	f.Add(`{"groups":[{"name":"g","locations":["aws-us-east-1"]}]}`)
	f.Add(`{"tokens":[{"id":"t","name":"n"}]}`)
	f.Add(`{"audit_logs":[{"code":"db-create","created_at":"2026-11-01T00:00:00Z","data":{"a":{"b":[1,2,{"c":null}]}}}],"pagination":{"page":1,"total_pages":1}}`)
	f.Add(`{"organization":{"uuid":"u","usage":{"rows_read":1},"databases":[{"uuid":"d","total":{"rows_read":2}},{"uuid":"e","usage":{}}]}}`)
	f.Add(`{"organization":{"databases":null}}`)
	f.Add(`{"databases":[{"Name":"a","DbId":"1"}],"pagination":{"next":null}}`)
	f.Add(`{"members":"not a list"}`)
	f.Add("{\"members\":[{\"username\":\"\x00\xff\"}]}")
	f.Add(`{"exp":1800000000}`)
	f.Add(`{"locations":{"aws-us-east-1":"Virginia"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		ctx := context.Background()
		c := fuzzClient(t, body)
		_, err := c.ListMembers(ctx, "o")
		checkClass(t, "members", err)
		_, err = c.ListOrganizations(ctx)
		checkClass(t, "organizations", err)
		_, err = c.GetOrganization(ctx, "o")
		checkClass(t, "organization", err)
		_, err = c.ListInvites(ctx, "o")
		checkClass(t, "invites", err)
		_, err = c.ListGroups(ctx, "o")
		checkClass(t, "groups", err)
		_, err = c.ListAPITokens(ctx, "o")
		checkClass(t, "api tokens", err)
		_, err = c.AuditLogs(ctx, "o", 1, 100)
		checkClass(t, "audit logs", err)
		_, err = c.ListLocations(ctx)
		checkClass(t, "locations", err)
		_, err = c.ValidateToken(ctx)
		checkClass(t, "validate", err)
		pages := 0
		_, err = c.OrganizationUsage(ctx, "o", func(ds []turso.DatabaseUsage) error {
			pages++
			if len(ds) == 0 || len(ds) > turso.UsagePage {
				t.Fatalf("usage page of %d entries", len(ds))
			}
			return nil
		})
		checkClass(t, "usage", err)
		err = c.ListDatabases(ctx, "o", func(ds []turso.Database) error {
			for _, d := range ds {
				if d.DbID == "" || d.Name == "" {
					t.Fatalf("a database without DbId or Name reached the caller: %+v", d)
				}
			}
			return nil
		})
		checkClass(t, "databases", err)
	})
}

// FuzzDatabaseCursor serves two pages whose cursors the fuzzer picks: the
// walk must end (no endless loop on a repeating cursor), and every page it
// hands on must be one the server sent.
func FuzzDatabaseCursor(f *testing.F) {
	f.Add("c1", "c2")
	f.Add("c1", "c1")
	f.Add("", "x")
	f.Add("a\"b", "")
	f.Fuzz(func(t *testing.T, next1, next2 string) {
		page := func(id, next string) string {
			n := "null"
			if next != "" {
				b, _ := json.Marshal(next)
				n = string(b)
			}
			return `{"databases":[{"Name":"n` + id + `","DbId":"` + id + `"}],"pagination":{"next":` + n + `}}`
		}
		// After the two pages, the server repeats the second: a cursor
		// that never ends must be caught as a loop.
		c := fuzzClient(t, page("1", next1), page("2", next2))
		got := 0
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := c.ListDatabases(ctx, "o", func(ds []turso.Database) error { got += len(ds); return nil })
		checkClass(t, "databases", err)
		if got == 0 {
			t.Fatalf("no page handed on")
		}
	})
}
