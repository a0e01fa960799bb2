package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tursync/tursync/internal/webhooktest"
	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/webhook"
)

// newBed is a test's receiver (verifying with a secret of its own), a
// mirror file, a clock and a deliverer over them, and an endpoint.
func newBed(t *testing.T, seed byte) (*webhooktest.Receiver, *clock, *storage.Store, *webhook.Deliverer, webhook.Endpoint) {
	t.Helper()
	secret, key := newSecret(seed)
	r := startReceiver(t, secret)
	clk := &clock{}
	st := mirror(t, clk.Now)
	return r, clk, st, webhook.New(st.Outbox(), webhook.Options{Now: clk.Now}), endpoint(r, key)
}

func endpoint(r *webhooktest.Receiver, keys ...[]byte) webhook.Endpoint {
	return webhook.Endpoint{ID: "secops", URL: r.URL + "/hook", Keys: keys, Batch: 100, Timeout: 2 * time.Second}
}

// Every change event arrives, verified by the reference library, in
// order, in batches of at most batch, without remote_data; a new
// endpoint starts at the account's latest event.
func TestDeliveriesArriveVerifiedAndInOrder(t *testing.T) {
	for _, backend := range []string{"file", "sqld"} {
		t.Run(backend, func(t *testing.T) { deliverInOrder(t, backend) })
	}
}

func deliverInOrder(t *testing.T, backend string) {
	secret, key := newSecret(1)
	r := startReceiver(t, secret)
	clk := &clock{}
	st := mirror(t, clk.Now)
	if backend == "sqld" {
		st = sqldMirror(t, clk.Now)
	}
	addEvents(t, st, "acme", 5) // history before the endpoint: not sent
	d := webhook.New(st.Outbox(), webhook.Options{Now: clk.Now})
	ep := endpoint(r, key)
	if res := d.Deliver(context.Background(), ep, []string{"acme"}); res[0].Err != nil || res[0].Delivered != 0 {
		t.Fatalf("first delivery: %+v", res[0])
	}
	addEvents(t, st, "acme", 250)
	res := d.Deliver(context.Background(), ep, []string{"acme"})
	if res[0].Err != nil || res[0].Delivered != 250 || res[0].Batches != 3 {
		t.Fatalf("delivery: %+v, want 250 events in 3 batches", res[0])
	}
	got := r.Received()
	for _, dl := range got {
		if !dl.Verified {
			t.Fatalf("delivery %s not verified by the reference library: %s", dl.ID, dl.Error)
		}
	}
	evs := webhooktest.Events(t, got)
	if len(evs) != 250 {
		t.Fatalf("%d events received, want 250", len(evs))
	}
	for i, e := range evs {
		if id := e.Data.ID; id != int64(6+i) {
			t.Fatalf("event %d has id %d, want %d: out of order or a gap", i, id, 6+i)
		}
	}
	if evs[0].Type != "role_assignments.updated" || evs[1].Type != "api_tokens.created" {
		t.Errorf("types %s, %s", evs[0].Type, evs[1].Type)
	}
	for _, dl := range got {
		if strings.Contains(string(dl.Body), "remote_data") {
			t.Fatalf("remote_data delivered without include_remote_data: %s", dl.Body)
		}
	}
	if again := d.Deliver(context.Background(), ep, []string{"acme"}); again[0].Delivered != 0 || len(r.Received()) != 3 {
		t.Errorf("a caught-up endpoint delivered again: %+v", again[0])
	}
	if rows := deliveryRows(t, st); strings.Join(rows, ",") != "delivered 204,delivered 204,delivered 204" {
		t.Errorf("webhook_deliveries %q, want one row per attempt, each with its answer", rows)
	}
}

// A receiver that fails is retried as it asks, with the same webhook-id,
// and the events arrive in order once it answers; one that stays down
// past max_age makes the batch dead and delivery moves on.
// observed counts what an Observer hears.
type observed struct {
	mu               sync.Mutex
	attempts, dead   int
	codes            []string
	deadEndpointSeen string
}

func (o *observed) WebhookAttempt(_, code string, _ int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempts++
	o.codes = append(o.codes, code)
}

func (o *observed) WebhookDead(endpoint string, events int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead += events
	o.deadEndpointSeen = endpoint
}

func TestRetriesHonourRetryAfterThenDeadAfterMaxAge(t *testing.T) {
	r, clk, st, _, ep := newBed(t, 2)
	obs := &observed{}
	d := webhook.New(st.Outbox(), webhook.Options{Now: clk.Now, Observer: obs})
	ep.Timeout = 500 * time.Millisecond
	ctx := context.Background()
	d.Deliver(ctx, ep, []string{"acme"})
	addEvents(t, st, "acme", 10)
	r.Respond(map[string]any{"status": 500}, map[string]any{"status": 429, "retry_after": "7"},
		map[string]any{"close": true}, map[string]any{"delay_ms": 1500})
	waits := []time.Duration{}
	for attempt := 1; attempt <= 4; attempt++ {
		res := d.Deliver(ctx, ep, []string{"acme"})
		if !res[0].Waiting || res[0].Err == nil || res[0].Delivered != 0 {
			t.Fatalf("attempt %d: %+v, want a failure and a wait", attempt, res[0])
		}
		p, ok, err := st.Outbox().PendingDelivery(ctx, "secops", "acme", 0)
		if err != nil || !ok || p.Attempt != attempt {
			t.Fatalf("attempt %d: pending %+v %v %v", attempt, p, ok, err)
		}
		waits = append(waits, p.NextRetryAt.Sub(p.At))
		if again := d.Deliver(ctx, ep, []string{"acme"}); !again[0].Waiting || len(r.Received()) != attempt {
			t.Fatalf("attempt %d: a delivery before the retry was due", attempt)
		}
		clk.advance(p.NextRetryAt.Sub(clk.Now()) + time.Second)
	}
	if waits[1] < 7*time.Second {
		t.Errorf("the wait after a 429 with Retry-After 7 was %v", waits[1])
	}
	res := d.Deliver(ctx, ep, []string{"acme"})
	if res[0].Err != nil || res[0].Delivered != 10 {
		t.Fatalf("the fifth attempt: %+v, want the 10 events", res[0])
	}
	got := r.Received()
	for _, dl := range got[1:] {
		if dl.ID != got[0].ID {
			t.Errorf("webhook-id changed between attempts: %s, %s", got[0].ID, dl.ID)
		}
	}
	if evs := webhooktest.Events(t, got[len(got)-1:]); len(evs) != 10 || evs[0].Data.ID != 1 {
		t.Errorf("the delivered batch: %d events", len(evs))
	}

	// Down for longer than max_age: the batch dies, the next goes.
	addEvents(t, st, "acme", 3)
	r.Respond(map[string]any{"status": 503}, map[string]any{"status": 503})
	d.Deliver(ctx, ep, []string{"acme"})
	clk.advance(webhook.DefaultMaxAge + time.Minute)
	res = d.Deliver(ctx, ep, []string{"acme"})
	if res[0].Dead != 3 {
		t.Fatalf("past max_age: %+v, want 3 dead events", res[0])
	}
	addEvents(t, st, "acme", 2)
	if res = d.Deliver(ctx, ep, []string{"acme"}); res[0].Delivered != 2 {
		t.Fatalf("after the dead batch: %+v, want the next 2 delivered", res[0])
	}
	var dead int
	st.DB().QueryRow(`SELECT count(*) FROM webhook_deliveries WHERE status = ?`, storage.DeliveryDead).Scan(&dead)
	if dead != 1 {
		t.Errorf("%d dead deliveries recorded, want 1", dead)
	}
	if obs.dead != 3 || obs.deadEndpointSeen != "secops" || strings.Join(obs.codes[:5], ",") != "500,429,error,error,204" {
		t.Errorf("observed %d dead events of %q, codes %v", obs.dead, obs.deadEndpointSeen, obs.codes)
	}
}

// A delivery signed with another secret fails the reference library's
// check; during a rotation, any one of the signing keys verifies.
func TestSignaturesWrongSecretAndRotation(t *testing.T) {
	secret, key := newSecret(3)
	_, other := newSecret(9)
	r := startReceiver(t, secret)
	clk := &clock{}
	st := mirror(t, clk.Now)
	d := webhook.New(st.Outbox(), webhook.Options{Now: clk.Now})
	ctx := context.Background()
	ep := endpoint(r, other)
	ep.Batch = 1
	d.Deliver(ctx, ep, []string{"acme"})
	addEvents(t, st, "acme", 1)
	d.Deliver(ctx, ep, []string{"acme"})
	got := r.Received()
	if len(got) != 1 || got[0].Verified || !strings.Contains(got[0].Error, "signature") {
		t.Fatalf("a wrong secret: %+v, want the verifier to refuse it", got)
	}
	clk.advance(time.Hour)
	ep.Keys = [][]byte{other, key} // rotating: old and new
	res := d.Deliver(ctx, ep, []string{"acme"})
	got = r.Received()
	if res[0].Delivered != 1 || !got[len(got)-1].Verified {
		t.Fatalf("rotation: %+v, %+v", res[0], got[len(got)-1])
	}
	var one webhook.Envelope
	if err := jsonUnmarshal(got[len(got)-1].Body, &one); err != nil || one.Type != "role_assignments.updated" {
		t.Errorf("batch 1 sends one event's envelope: %s", got[len(got)-1].Body)
	}
}

// The events globs pick the types an endpoint hears; the cursor moves past
// the others.
func TestEventsGlobs(t *testing.T) {
	r, _, st, d, ep := newBed(t, 4)
	ctx := context.Background()
	ep.Events = []string{"role_assignments.*", "api_tokens.created"}
	d.Deliver(ctx, ep, []string{"acme"})
	addEvents(t, st, "acme", 40)
	res := d.Deliver(ctx, ep, []string{"acme"})
	if res[0].Delivered != 20 {
		t.Fatalf("%+v, want the 20 events of the two types", res[0])
	}
	for _, e := range webhooktest.Events(t, r.Received()) {
		if e.Type != "role_assignments.updated" && e.Type != "api_tokens.created" {
			t.Errorf("delivered %s", e.Type)
		}
	}
	if c, _ := st.Outbox().Cursor(ctx, "secops", "acme"); c != 40 {
		t.Errorf("cursor %d, want 40: past the events no glob matches", c)
	}
}

// A delivery cut off before its answer (the process died) is sent again
// with the same events and webhook-id, though more events arrived since.
func TestCutOffDeliveryRepeatsTheSameBatch(t *testing.T) {
	r, clk, st, d, ep := newBed(t, 5)
	d.Deliver(context.Background(), ep, []string{"acme"})
	addEvents(t, st, "acme", 3)
	r.Respond(map[string]any{"delay_ms": 3000})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Deliver(ctx, ep, []string{"acme"})
	}()
	for len(r.Received()) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // the process dies with the batch in flight
	<-done
	addEvents(t, st, "acme", 4)
	res := webhook.New(st.Outbox(), webhook.Options{Now: clk.Now}).Deliver(context.Background(), ep, []string{"acme"})
	if res[0].Delivered != 7 {
		t.Fatalf("after the cut: %+v, want all 7 events", res[0])
	}
	got := r.Received()
	var ids []string
	for _, g := range got {
		ids = append(ids, g.ID)
	}
	if len(got) != 3 || got[1].ID != got[0].ID || got[2].ID == got[0].ID {
		t.Fatalf("webhook-ids %v: want the cut batch again under its webhook-id, then one new batch", ids)
	}
	if n := len(webhooktest.Events(t, got[1:2])); n != 3 {
		t.Errorf("the repeated batch holds %d events, want the 3 it held", n)
	}
}

// Operational events follow the runs: a scope failing three passes in a
// row (once per streak), a guarded scope with its release command, an
// account whose pass failed after one that did not.
func TestOperationalEvents(t *testing.T) {
	r, _, st, d, ep := newBed(t, 6)
	ctx := context.Background()
	d.Deliver(ctx, ep, []string{"acme"}) // the cursors start here
	at := time.Now().UTC().Format(time.RFC3339)
	run := func(status string, scopes ...[2]string) {
		res, err := st.DB().Exec(`INSERT INTO sync_runs (account_id, trigger, started_at, finished_at, status, error) VALUES ('acme', 'schedule', ?, ?, ?, ?)`,
			at, at, status, map[bool]any{true: "validate token: auth (HTTP 401)", false: nil}[status == "failed"])
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		for _, sc := range scopes {
			held := 0
			if sc[1] == "guarded" {
				held = 42
			}
			if _, err := st.DB().Exec(`INSERT INTO sync_scopes (run_id, account_id, organization_id, resource, status, error_class, error, deletes_held, started_at, finished_at)
				VALUES (?, 'acme', 'org1', ?, ?, ?, ?, ?, ?, ?)`, id, sc[0], sc[1], map[bool]any{true: "server", false: nil}[sc[1] == "failed"],
				map[bool]any{true: "HTTP 500", false: nil}[sc[1] == "failed"], held, at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 4; i++ { // members fails four passes in a row: one event, at the third
		run("partial", [2]string{"members", "failed"})
	}
	run("complete", [2]string{"databases", "guarded"})
	run("failed")
	run("failed") // still down: no second event
	if res := d.Deliver(ctx, ep, []string{"acme"}); res[0].Err != nil || res[0].Delivered != 3 {
		t.Fatalf("%+v, want 3 operational events", res[0])
	}
	evs := webhooktest.Events(t, r.Received())
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "scope.failed,scope.guarded,account.down" {
		t.Fatalf("events %v", types)
	}
	var env struct {
		Data struct {
			Events []struct {
				Data webhook.OpsData `json:"data"`
			} `json:"events"`
		} `json:"data"`
	}
	got := r.Received()
	if err := jsonUnmarshal(got[len(got)-1].Body, &env); err != nil || len(env.Data.Events) != 3 {
		t.Fatalf("the batch: %v %s", err, got[len(got)-1].Body)
	}
	failed, guarded := env.Data.Events[0].Data, env.Data.Events[1].Data
	if guarded.DeletesHeld != 42 || guarded.Release != "tursync sync --config CONFIG --force-deletes --account acme --org org1" {
		t.Errorf("scope.guarded data %+v", guarded)
	}
	if failed.ConsecutiveFailures != 3 || failed.Resource != "members" || failed.ErrorClass != "server" {
		t.Errorf("scope.failed data %+v", failed)
	}
	// Only the types the endpoint asked for.
	ep.ID, ep.Events = "ops-only-guarded", []string{"scope.guarded"}
	d.Deliver(ctx, ep, []string{"acme"})
	run("complete", [2]string{"groups", "guarded"})
	before := len(r.Received())
	if res := d.Deliver(ctx, ep, []string{"acme"}); res[0].Delivered != 1 || len(r.Received()) != before+1 {
		t.Errorf("a filtered endpoint: %+v", res[0])
	}
}

// Retention never prunes a change event an endpoint has not delivered;
// an endpoint taken out of the config stops holding events back.
func TestRetentionWaitsForDelivery(t *testing.T) {
	r, clk, st, d, ep := newBed(t, 7)
	ctx := context.Background()
	d.Deliver(ctx, ep, []string{"acme"})
	addEvents(t, st, "acme", 10)
	count := func() int {
		var n int
		st.DB().QueryRow(`SELECT count(*) FROM change_events`).Scan(&n)
		return n
	}
	later := time.Now().Add(time.Hour)
	if _, err := st.Prune(ctx, storage.Retention{ChangeEvents: time.Minute}, later); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 10 {
		t.Fatalf("retention pruned undelivered events: %d left of 10", n)
	}
	r.Respond(map[string]any{"status": 500})
	d.Deliver(ctx, ep, []string{"acme"}) // fails: still undelivered
	st.Prune(ctx, storage.Retention{ChangeEvents: time.Minute}, later)
	if n := count(); n != 10 {
		t.Fatalf("retention pruned events of a failing batch: %d left", n)
	}
	clk.advance(time.Hour)
	d.Deliver(ctx, ep, []string{"acme"})
	st.Prune(ctx, storage.Retention{ChangeEvents: time.Minute}, later)
	if n := count(); n != 0 {
		t.Errorf("%d delivered events outlived retention", n)
	}
	addEvents(t, st, "acme", 3)
	if _, err := st.Outbox().Forget(ctx, []string{"another"}); err != nil {
		t.Fatal(err)
	}
	st.Prune(ctx, storage.Retention{ChangeEvents: time.Minute}, later)
	if n := count(); n != 0 {
		t.Errorf("an endpoint no longer configured still holds %d events back", n)
	}
}

// token.expiring: once, when a run first finds the token within 14 days
// of its expiry; again for a new token that comes close.
func TestTokenExpiringOnce(t *testing.T) {
	r, _, st, d, ep := newBed(t, 8)
	ctx := context.Background()
	ep.Events = []string{"token.*"}
	d.Deliver(ctx, ep, []string{"acme"})
	now := time.Now().UTC()
	run := func(expires time.Time) {
		if _, err := st.DB().Exec(`INSERT INTO sync_runs (account_id, trigger, started_at, finished_at, status, token_expires_at) VALUES ('acme', 'schedule', ?, ?, 'complete', ?)`,
			now.Format(time.RFC3339), now.Format(time.RFC3339), expires.Format(time.RFC3339)); err != nil {
			t.Fatal(err)
		}
	}
	first, second := now.Add(10*24*time.Hour), now.Add(5*24*time.Hour)
	run(now.Add(60 * 24 * time.Hour)) // far: nothing
	run(first)                        // close: the event
	run(first)                        // the same token, still close: nothing
	run(second)                       // a new token, also close: the event again
	if res := d.Deliver(ctx, ep, []string{"acme"}); res[0].Err != nil || res[0].Delivered != 2 {
		t.Fatalf("%+v, want 2 token.expiring events", res[0])
	}
	var env struct {
		Data struct {
			Events []struct {
				Type string          `json:"type"`
				Data webhook.OpsData `json:"data"`
			} `json:"events"`
		} `json:"data"`
	}
	got := r.Received()
	if err := jsonUnmarshal(got[len(got)-1].Body, &env); err != nil || len(env.Data.Events) != 2 {
		t.Fatalf("%v %s", err, got[len(got)-1].Body)
	}
	if e := env.Data.Events[0]; e.Type != "token.expiring" || e.Data.TokenExpiresAt != first.Format(time.RFC3339) {
		t.Errorf("first event %+v", e)
	}
	if e := env.Data.Events[1]; e.Data.TokenExpiresAt != second.Format(time.RFC3339) {
		t.Errorf("second event %+v", e)
	}
}

// A receiver that is down (connection refused) for a while gets every
// event once it is back, in order, under the batch's webhook-id; with
// include_remote_data the changes carry remote_data.
func TestReceiverDownThenBack(t *testing.T) {
	r, clk, st, d, ep := newBed(t, 10)
	ctx := context.Background()
	up := ep.URL
	ep.URL = "http://127.0.0.1:1/hook" // nothing listens there
	ep.IncludeRemoteData = true
	d.Deliver(ctx, ep, []string{"acme"})
	addEvents(t, st, "acme", 7)
	for i := 0; i < 3; i++ {
		res := d.Deliver(ctx, ep, []string{"acme"})
		if res[0].Delivered != 0 || res[0].Err == nil || strings.Contains(res[0].Err.Error(), "http://") {
			t.Fatalf("down: %+v (the error must not quote the URL)", res[0])
		}
		clk.advance(time.Hour)
	}
	ep.URL = up
	if res := d.Deliver(ctx, ep, []string{"acme"}); res[0].Delivered != 7 {
		t.Fatalf("back: %+v", res[0])
	}
	evs := webhooktest.Events(t, r.Received())
	for i, e := range evs {
		if e.Data.ID != int64(i+1) {
			t.Fatalf("event %d has id %d", i, e.Data.ID)
		}
	}
	if !strings.Contains(string(evs[0].Data.Changes), "remote_data") {
		t.Errorf("include_remote_data: changes %s lack remote_data", evs[0].Data.Changes)
	}
	p, _, _ := st.Outbox().PendingDelivery(ctx, "secops", "acme", 0)
	if got := r.Received()[0].ID; got != webhook.MessageID("secops", "acme", 1, 7) || p.WebhookID != got {
		t.Errorf("webhook-id %s, want the batch's of every attempt", got)
	}
}

// A receiver that redirects fails the attempt, naming the status and the
// target (its query left out): a 302 would turn the signed POST into a
// bodyless GET that a 200 then marks delivered, a 307 would hand a signed
// copy to another host. Nothing reaches the target; the batch waits; one
// webhook_deliveries row per attempt holds the answer.
func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			r, clk, st, d, ep := newBed(t, 11)
			var reached atomic.Int64
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached.Add(1) }))
			t.Cleanup(target.Close)
			redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				http.Redirect(w, req, target.URL+"/elsewhere?token=s3cret", code)
			}))
			t.Cleanup(redirector.Close)
			ctx := context.Background()
			d.Deliver(ctx, ep, []string{"acme"})
			addEvents(t, st, "acme", 4)
			ep.URL = redirector.URL + "/hook"
			for attempt := 1; attempt <= 2; attempt++ {
				res := d.Deliver(ctx, ep, []string{"acme"})
				if res[0].Delivered != 0 || !res[0].Waiting || res[0].Err == nil {
					t.Fatalf("attempt %d: %+v, want a failed attempt that waits", attempt, res[0])
				}
				msg := res[0].Err.Error()
				if !strings.Contains(msg, strconv.Itoa(code)) || !strings.Contains(msg, target.URL+"/elsewhere") || strings.Contains(msg, "s3cret") {
					t.Fatalf("error %q: want the status and the target, without its query", msg)
				}
				clk.advance(time.Hour)
			}
			if n := reached.Load(); n != 0 {
				t.Fatalf("the redirect's target was reached %d times", n)
			}
			if behind, _ := st.Outbox().Cursor(ctx, "secops", "acme"); behind != 0 {
				t.Fatalf("the cursor moved to %d past undelivered events", behind)
			}
			if code, err := webhook.Ping(ctx, nil, ep, "", clk.Now()); err == nil || code != 0 && code/100 != 3 {
				t.Fatalf("ping of a redirecting endpoint: %d %v, want a failure", code, err)
			}
			ep.URL = r.URL + "/hook"
			if res := d.Deliver(ctx, ep, []string{"acme"}); res[0].Delivered != 4 {
				t.Fatalf("back at the receiver: %+v", res[0])
			}
			rows := deliveryRows(t, st)
			if len(rows) != 3 || rows[0] != "failed "+strconv.Itoa(code) || rows[1] != rows[0] || rows[2] != "delivered 204" {
				t.Fatalf("webhook_deliveries %q, want one row per attempt: two failed with %d, one delivered", rows, code)
			}
		})
	}
}

// deliveryRows is each webhook_deliveries row as "status code", in order.
func deliveryRows(t *testing.T, st *storage.Store) []string {
	t.Helper()
	rows, err := st.DB().Query(`SELECT status, coalesce(status_code, 0) FROM webhook_deliveries ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var status string
		var code int
		if err := rows.Scan(&status, &code); err != nil {
			t.Fatal(err)
		}
		out = append(out, status+" "+strconv.Itoa(code))
	}
	return out
}

// Policy events arrive as their own stream: a violation opened after a
// policy's baseline is policy.violated, one resolved policy.resolved,
// each with its subject and details; the endpoint's globs filter them.
func TestPolicyEvents(t *testing.T) {
	r, _, st, d, ep := newBed(t, 9)
	ctx := context.Background()
	d.Deliver(ctx, ep, []string{"acme"}) // the cursors start here
	record := func(subjects ...string) storage.Recorded {
		var vs []storage.Violation
		for _, s := range subjects {
			vs = append(vs, storage.Violation{Org: "org1", SubjectType: "database", SubjectID: s, Details: `{"name":"` + s + `"}`})
		}
		rec, err := st.Policies().Record(ctx, storage.Evaluation{Policy: "residency", Severity: "critical", Account: "acme", At: time.Now(), Violations: vs})
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	record("db1", "db2") // the baseline: no event
	if res := d.Deliver(ctx, ep, []string{"acme"}); res[0].Delivered != 0 {
		t.Fatalf("a policy's baseline sent %d events", res[0].Delivered)
	}
	record("db2", "db3") // db1 resolved, db3 violated
	if res := d.Deliver(ctx, ep, []string{"acme"}); res[0].Err != nil || res[0].Delivered != 2 {
		t.Fatalf("%+v, want 2 policy events", res[0])
	}
	var env struct {
		Data struct {
			Events []struct {
				Type string             `json:"type"`
				Data webhook.PolicyData `json:"data"`
			} `json:"events"`
		} `json:"data"`
	}
	got := r.Received()
	if !got[len(got)-1].Verified {
		t.Fatalf("the batch failed the reference check: %s", got[len(got)-1].Error)
	}
	if err := jsonUnmarshal(got[len(got)-1].Body, &env); err != nil || len(env.Data.Events) != 2 {
		t.Fatalf("the batch: %v %s", err, got[len(got)-1].Body)
	}
	seen := map[string]string{}
	for _, e := range env.Data.Events {
		seen[e.Type] = e.Data.SubjectID
		if e.Data.Policy != "residency" || e.Data.Severity != "critical" || e.Data.Organization != "org1" || !strings.Contains(string(e.Data.Details), e.Data.SubjectID) {
			t.Errorf("event %+v", e)
		}
	}
	if seen["policy.violated"] != "db3" || seen["policy.resolved"] != "db1" {
		t.Errorf("events %v, want db3 violated and db1 resolved", seen)
	}
	// An endpoint that asked for change events only hears none of them.
	ep.ID, ep.Events = "changes-only", []string{"role_assignments.*"}
	d.Deliver(ctx, ep, []string{"acme"})
	record("db4")
	before := len(r.Received())
	if res := d.Deliver(ctx, ep, []string{"acme"}); res[0].Delivered != 0 || len(r.Received()) != before {
		t.Errorf("a filtered endpoint heard policy events: %+v", res[0])
	}
}

// A failed export run reaches an endpoint as export.failed, once, verified
// by the reference library; a run that went well sends nothing; an
// endpoint that asked for policy events only hears none.
func TestExportEvents(t *testing.T) {
	r, _, st, d, ep := newBed(t, 9)
	ctx := context.Background()
	d.Deliver(ctx, ep, []string{"acme"}) // the cursors start here
	record := func(err error) {
		t.Helper()
		run := storage.ExportRun{Export: "warehouse", Trigger: "schedule", StartedAt: time.Now(), FinishedAt: time.Now(), Err: err, Rows: 3, Cursor: 7}
		if err != nil {
			run.ErrorClass = "network"
		}
		if err := st.Exports().RecordRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	record(nil)
	before := len(r.Received())
	d.Deliver(ctx, ep, []string{"acme"})
	if len(r.Received()) != before {
		t.Fatalf("a run that went well sent %d batches", len(r.Received())-before)
	}
	record(errors.New("connect to tursync@db:5432/analytics: connection refused"))
	res := d.Deliver(ctx, ep, []string{"acme"})
	last := res[len(res)-1]
	if last.Account != "" || last.Err != nil || last.Delivered != 1 {
		t.Fatalf("%+v, want the export event delivered under no account", res)
	}
	var env struct {
		Data struct {
			Events []struct {
				Type string             `json:"type"`
				Data webhook.ExportData `json:"data"`
			} `json:"events"`
		} `json:"data"`
	}
	got := r.Received()
	if !got[len(got)-1].Verified {
		t.Fatalf("the batch failed the reference check: %s", got[len(got)-1].Error)
	}
	if err := jsonUnmarshal(got[len(got)-1].Body, &env); err != nil || len(env.Data.Events) != 1 {
		t.Fatalf("the batch: %v %s", err, got[len(got)-1].Body)
	}
	e := env.Data.Events[0]
	if e.Type != webhook.ExportFailed || e.Data.Export != "warehouse" || e.Data.ErrorClass != "network" || !strings.Contains(e.Data.Error, "connection refused") {
		t.Errorf("event %+v", e)
	}
	if res := d.Deliver(ctx, ep, []string{"acme"}); res[len(res)-1].Delivered != 0 {
		t.Errorf("the event was sent twice: %+v", res)
	}
	ep.ID, ep.Events = "policies-only", []string{"policy.*"}
	d.Deliver(ctx, ep, []string{"acme"})
	record(errors.New("again"))
	before = len(r.Received())
	if res := d.Deliver(ctx, ep, []string{"acme"}); len(res) != 1 || len(r.Received()) != before {
		t.Errorf("a policy-only endpoint heard the export event: %+v", res)
	}
}
