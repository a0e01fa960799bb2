package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/tursync/tursync/storage"
)

// Defaults of an endpoint's settings.
const (
	DefaultBatch   = 100
	DefaultTimeout = 10 * time.Second
	DefaultMaxAge  = 24 * time.Hour
	// MaxBackoff caps the wait between two attempts, Retry-After included.
	MaxBackoff = time.Hour
	// firstBackoff is the wait after a batch's first failed attempt; each
	// next one doubles it.
	firstBackoff = 5 * time.Second
)

// Endpoint is one configured receiver.
type Endpoint struct {
	ID  string
	URL string
	// Keys sign every delivery; several during a rotation.
	Keys [][]byte
	// Events are globs over event types ("role_assignments.*"); empty
	// delivers every type.
	Events            []string
	Batch             int
	Timeout           time.Duration
	MaxAge            time.Duration
	IncludeRemoteData bool
}

// Store is what delivery needs of the mirror (storage.Outbox): the
// deliveries and cursors, and one source per stream.
type Store interface {
	Ledger
	ChangeSource
	RunSource
	PolicySource
	ExportSource
}

// Ledger records the attempts and moves the cursors, whatever the stream.
type Ledger interface {
	SetCursor(ctx context.Context, endpoint, account string, from, to int64) (bool, error)
	RecordDelivery(ctx context.Context, d storage.WebhookDelivery) (int64, error)
	FinishDelivery(ctx context.Context, id int64, d storage.WebhookDelivery) error
	PendingDelivery(ctx context.Context, endpoint, account string, cursor int64) (storage.WebhookDelivery, bool, error)
}

// ChangeSource is the change events' stream: its cursor and events.
type ChangeSource interface {
	Cursor(ctx context.Context, endpoint, account string) (int64, error)
	ChangesAfter(ctx context.Context, account string, after int64, limit int) ([]storage.ChangeEvent, error)
}

// RunSource is the operational events' stream, which follows runs.
type RunSource interface {
	RunCursor(ctx context.Context, endpoint, account string) (int64, error)
	RunEventsAfter(ctx context.Context, account string, after int64, limit int) ([]storage.OpsEvent, int64, error)
}

// PolicySource is the policy events' stream.
type PolicySource interface {
	PolicyCursor(ctx context.Context, endpoint, account string) (int64, error)
	PolicyEventsAfter(ctx context.Context, account string, after int64, limit int) ([]storage.PolicyEvent, error)
}

// ExportSource is the export events' stream, which belongs to no account.
type ExportSource interface {
	ExportCursor(ctx context.Context, endpoint string) (int64, error)
	ExportEventsAfter(ctx context.Context, after int64, limit int) ([]storage.ExportEvent, error)
}

// Observer hears each attempt (the metrics).
type Observer interface {
	WebhookAttempt(endpoint, code string, events int)
	// WebhookDead hears a batch given up on past max_age.
	WebhookDead(endpoint string, events int)
}

// Options tune a Deliverer.
type Options struct {
	Client *http.Client // default: a client without timeout (each endpoint has its own)
	// Now decides when a retry is due and when a batch is past max_age.
	// webhook-timestamp is always the wall clock: receivers check it
	// against theirs.
	Now       func() time.Time
	Logger    *slog.Logger
	Observer  Observer
	UserAgent string
}

// Deliverer sends an endpoint's batches.
type Deliverer struct {
	store Store
	o     Options
}

// New returns a Deliverer.
func New(store Store, o Options) *Deliverer {
	client := http.Client{}
	if o.Client != nil {
		client = *o.Client
	}
	// A webhook never follows a redirect: a 302 turns the signed POST
	// into a GET without its body (which a 200 would then mark delivered),
	// a 307 hands a validly signed copy to another host, and either may
	// lead off https. A 3xx is a failed attempt naming where it pointed.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.Client = &client
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{store: store, o: o}
}

// Result is what one Deliver did for one account.
type Result struct {
	Account   string
	Delivered int // events delivered
	Batches   int
	Dead      int // events given up on
	// Waiting: a batch failed and its next attempt is not due yet.
	Waiting bool
	Err     error // the last attempt's error, or the mirror's
}

// Deliver sends, for each account in order, every batch due: until the
// account is caught up or an attempt fails (its next one is then
// scheduled, and that account waits: delivery is ordered per account).
func (d *Deliverer) Deliver(ctx context.Context, ep Endpoint, accounts []string) []Result {
	ep = withDefaults(ep)
	out := make([]Result, 0, len(accounts))
	for _, a := range accounts {
		r := Result{Account: a}
		r.Err = d.drain(ctx, ep, &r, d.changes(ep, a))
		if r.Err == nil && !r.Waiting {
			r.Err = d.drain(ctx, ep, &r, d.ops(ep, a))
		}
		if r.Err == nil && !r.Waiting {
			r.Err = d.drain(ctx, ep, &r, d.policies(ep, a))
		}
		out = append(out, r)
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() == nil && ep.matches(ExportFailed) {
		// Export events belong to no account: a Result of account "".
		r := Result{}
		r.Err = d.drain(ctx, ep, &r, d.exports(ep))
		out = append(out, r)
	}
	return out
}

func withDefaults(ep Endpoint) Endpoint {
	if ep.Batch <= 0 {
		ep.Batch = DefaultBatch
	}
	if ep.Timeout <= 0 {
		ep.Timeout = DefaultTimeout
	}
	if ep.MaxAge <= 0 {
		ep.MaxAge = DefaultMaxAge
	}
	return ep
}

// stream is a sequence of events an endpoint hears, with its own cursor:
// the change events, the operational events of the runs, or the policy
// events.
type stream struct {
	key    string // the cursor's and deliveries' endpoint column
	cursor func(ctx context.Context) (int64, error)
	next   func(ctx context.Context, cursor int64, pending storage.WebhookDelivery, retry bool) (batch, error)
}

func (d *Deliverer) changes(ep Endpoint, account string) stream {
	return stream{key: ep.ID,
		cursor: func(ctx context.Context) (int64, error) { return d.store.Cursor(ctx, ep.ID, account) },
		next: func(ctx context.Context, cursor int64, pending storage.WebhookDelivery, retry bool) (batch, error) {
			return d.nextBatch(ctx, ep, account, cursor, pending, retry)
		}}
}

func (d *Deliverer) ops(ep Endpoint, account string) stream {
	return stream{key: storage.OpsStream(ep.ID),
		cursor: func(ctx context.Context) (int64, error) { return d.store.RunCursor(ctx, ep.ID, account) },
		next: func(ctx context.Context, cursor int64, pending storage.WebhookDelivery, retry bool) (batch, error) {
			return d.nextOpsBatch(ctx, ep, account, cursor, pending, retry)
		}}
}

// drain delivers one account's batches of a stream.
func (d *Deliverer) drain(ctx context.Context, ep Endpoint, r *Result, s stream) error {
	cursor, err := s.cursor(ctx)
	if err != nil {
		return err
	}
	ep.ID = s.key // the cursor, the deliveries and the webhook-id are the stream's
	for ctx.Err() == nil {
		pending, retry, err := d.store.PendingDelivery(ctx, ep.ID, r.Account, cursor)
		if err != nil {
			return err
		}
		if retry && d.o.Now().Before(pending.NextRetryAt) {
			r.Waiting = true
			return nil
		}
		b, err := s.next(ctx, cursor, pending, retry)
		if err != nil || b.scanned == 0 {
			return err
		}
		if len(b.events) == 0 {
			// Nothing in the window matches the endpoint's types.
			if cursor, err = d.move(ctx, ep, r.Account, cursor, b.last); err != nil {
				return err
			}
			continue
		}
		att, err := d.attempt(ctx, ep, r.Account, b, pending, retry)
		if err != nil {
			return err
		}
		if err := d.store.FinishDelivery(ctx, att.row, att.record); err != nil {
			return err
		}
		switch att.record.Status {
		case storage.DeliveryFailed:
			r.Waiting = true
			return att.err
		case storage.DeliveryDead:
			r.Dead += len(b.events)
			if d.o.Observer != nil {
				d.o.Observer.WebhookDead(storage.StreamEndpoint(ep.ID), len(b.events))
			}
			d.o.Logger.Warn("webhook batch dead: older than max_age, skipped (tursync webhooks replay sends it again)",
				"endpoint", ep.ID, "account", r.Account, "first_event", b.first, "last_event", b.last, "error", att.err)
		default:
			r.Delivered += len(b.events)
			r.Batches++
		}
		if cursor, err = d.move(ctx, ep, r.Account, cursor, b.last); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// move advances the cursor; another process having moved it first means
// it delivers this endpoint now (a lost lease), and this one stops.
func (d *Deliverer) move(ctx context.Context, ep Endpoint, account string, from, to int64) (int64, error) {
	ok, err := d.store.SetCursor(ctx, ep.ID, account, from, to)
	if err != nil {
		return from, err
	}
	if !ok {
		return from, fmt.Errorf("webhook cursor of %s for %s moved by another process", ep.ID, account)
	}
	return to, nil
}

// batch is the events of one delivery.
type batch struct {
	events      []Envelope
	first, last int64 // the ids the batch spans, unmatched ones included
	scanned     int
}

// nextBatch reads the change events after the cursor.
func (d *Deliverer) nextBatch(ctx context.Context, ep Endpoint, account string, cursor int64, pending storage.WebhookDelivery, retry bool) (batch, error) {
	return scanBatch(ep, cursor, pending, retry,
		func(after int64, limit int) ([]storage.ChangeEvent, error) {
			return d.store.ChangesAfter(ctx, account, after, limit)
		},
		func(e storage.ChangeEvent) (int64, string) { return e.ID, EventType(e) },
		func(e storage.ChangeEvent) (Envelope, error) { return changeEnvelope(e, ep.IncludeRemoteData) })
}

// scanBatch reads the events of a stream after the cursor: those of the
// failed batch again when there is one (the same range, so the same
// webhook-id), otherwise up to ep.Batch events the endpoint wants.
func scanBatch[E any](ep Endpoint, cursor int64, pending storage.WebhookDelivery, retry bool, fetch func(after int64, limit int) ([]E, error),
	idType func(E) (int64, string), envelope func(E) (Envelope, error)) (batch, error) {
	limit := max(ep.Batch*4, 256)
	b := batch{first: cursor + 1}
	for {
		evs, err := fetch(cursor, limit)
		if err != nil {
			return b, err
		}
		for _, e := range evs {
			id, typ := idType(e)
			if retry && id > pending.LastEventID {
				return b, nil
			}
			b.scanned++
			b.last = id
			if ep.matches(typ) {
				env, err := envelope(e)
				if err != nil {
					return b, err
				}
				b.events = append(b.events, env)
				if len(b.events) == ep.Batch {
					return b, nil
				}
			}
		}
		if len(evs) < limit {
			return b, nil
		}
		cursor = b.last
	}
}

// matches reports whether the endpoint wants an event type.
func (ep Endpoint) matches(typ string) bool {
	if len(ep.Events) == 0 {
		return true
	}
	for _, g := range ep.Events {
		if ok, _ := path.Match(g, typ); ok {
			return true
		}
	}
	return false
}

// EventType is a change event's type: "<entity>.<op>".
func EventType(e storage.ChangeEvent) string { return e.Entity + "." + e.Op }

// MessageID is the webhook-id of a batch: the same for every attempt, and
// after a crash, so a receiver can drop what it already has.
func MessageID(endpoint, account string, first, last int64) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d\x00%d", endpoint, account, first, last)))
	return "msg_" + hex.EncodeToString(sum[:12])
}

// attemptResult is one attempt's record, its row and error.
type attemptResult struct {
	record storage.WebhookDelivery
	row    int64
	err    error
}

// attempt sends a batch once and decides what follows: delivered, failed
// with its next attempt scheduled, or dead past max_age.
//
// The attempt is recorded before it is sent, as failed and due at once: a
// process that dies before the answer leaves the batch's range behind, so
// the next one sends the same events under the same webhook-id. The
// error is the mirror's.
func (d *Deliverer) attempt(ctx context.Context, ep Endpoint, account string, b batch, pending storage.WebhookDelivery, retry bool) (attemptResult, error) {
	now := d.o.Now()
	rec := storage.WebhookDelivery{Endpoint: ep.ID, Account: account, WebhookID: MessageID(ep.ID, account, b.first, b.last),
		FirstEventID: b.first, LastEventID: b.last, Events: len(b.events), Attempt: 1, FirstAttemptAt: now, At: now}
	if retry && pending.FirstEventID == b.first {
		rec.Attempt, rec.FirstAttemptAt = pending.Attempt+1, pending.FirstAttemptAt
	}
	body, err := Body(ep, account, b.events, now)
	if err != nil {
		return attemptResult{}, err
	}
	inFlight := rec
	inFlight.Status, inFlight.Error, inFlight.NextRetryAt = storage.DeliveryFailed, "in flight: no answer recorded (the process stopped)", now
	row, err := d.store.RecordDelivery(ctx, inFlight)
	if err != nil {
		return attemptResult{}, err
	}
	code, retryAfter, err := d.send(ctx, ep, rec.WebhookID, body)
	rec.StatusCode, rec.At = code, d.o.Now()
	if d.o.Observer != nil {
		label := "error"
		if code != 0 {
			label = strconv.Itoa(code)
		}
		d.o.Observer.WebhookAttempt(storage.StreamEndpoint(ep.ID), label, len(b.events))
	}
	if err == nil {
		rec.Status = storage.DeliveryDelivered
		return attemptResult{rec, row, nil}, nil
	}
	rec.Error = err.Error()
	if rec.At.Sub(rec.FirstAttemptAt) >= ep.MaxAge {
		rec.Status = storage.DeliveryDead
		return attemptResult{rec, row, err}, nil
	}
	rec.Status, rec.NextRetryAt = storage.DeliveryFailed, rec.At.Add(Backoff(rec.Attempt, retryAfter))
	return attemptResult{rec, row, err}, nil
}

// Backoff is the wait after a batch's attempt-th failed attempt: doubling
// from 5 s with ±25% jitter, at least what Retry-After asked, at most
// MaxBackoff.
func Backoff(attempt int, retryAfter time.Duration) time.Duration {
	b := firstBackoff << min(attempt-1, 20)
	b = time.Duration(float64(b) * (0.75 + rand.Float64()/2))
	b = max(b, retryAfter)
	return min(b, MaxBackoff)
}

// send POSTs a signed body; an error for anything but a 2xx.
func (d *Deliverer) send(ctx context.Context, ep Endpoint, id string, body []byte) (code int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, ep.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("webhook %s: %w", ep.ID, err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(ep.Keys, id, ts, body))
	if d.o.UserAgent != "" {
		req.Header.Set("User-Agent", d.o.UserAgent)
	}
	resp, err := d.o.Client.Do(req)
	if err != nil {
		// The URL may carry a credential in its query: say only which
		// endpoint failed and how.
		return 0, 0, fmt.Errorf("webhook %s: %w", ep.ID, unwrapURLError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, 0, nil
	}
	if resp.StatusCode/100 == 3 {
		return resp.StatusCode, 0, fmt.Errorf("webhook %s: HTTP %d redirect to %q not followed (webhooks never follow redirects: set the endpoint's url to where the receiver is)",
			ep.ID, resp.StatusCode, redactedLocation(resp.Header.Get("Location")))
	}
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), d.o.Now()), fmt.Errorf("webhook %s: HTTP %d", ep.ID, resp.StatusCode)
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, MaxBackoff)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxBackoff)
	}
	return 0
}

// Envelope is one event as delivered: its type, when it was written, and
// the change event.
type Envelope struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      any    `json:"data"`
}

// EventData is a change event in a delivery.
type EventData struct {
	ID           int64           `json:"id"`
	Account      string          `json:"account"`
	Organization *string         `json:"organization"`
	Entity       string          `json:"entity"`
	EntityID     string          `json:"entity_id"`
	Op           string          `json:"op"`
	Changes      json.RawMessage `json:"changes"`
	// Source is "audit_log" when the org's audit log explains the change
	// (then HappenedAt and Actor say when and who), "observed" otherwise.
	Source     string  `json:"source"`
	HappenedAt *string `json:"happened_at"`
	Actor      *string `json:"actor"`
}

// BatchData is the data of a batch: an account's events, oldest first.
type BatchData struct {
	Account string     `json:"account"`
	Events  []Envelope `json:"events"`
}

// changeEnvelope is a change event as delivered.
func changeEnvelope(e storage.ChangeEvent, remote bool) (Envelope, error) {
	changes, err := changesOf(e.Changes, remote)
	if err != nil {
		return Envelope{}, fmt.Errorf("change event %d: %w", e.ID, err)
	}
	ed := EventData{ID: e.ID, Account: e.Account, Entity: e.Entity, EntityID: e.EntityID, Op: e.Op, Changes: changes, Source: e.Source}
	if e.HappenedAt != nil {
		h := e.HappenedAt.UTC().Format(time.RFC3339)
		ed.HappenedAt = &h
	}
	if e.Actor != "" {
		ed.Actor = &e.Actor
	}
	if e.Org != "" {
		org := e.Org
		ed.Organization = &org
	}
	return Envelope{Type: EventType(e), Timestamp: e.At.UTC().Format(time.RFC3339), Data: ed}, nil
}

// Body is what a delivery sends: one event's envelope when the endpoint's
// batch is 1, else a "batch" envelope holding every event's.
func Body(ep Endpoint, account string, envs []Envelope, now time.Time) ([]byte, error) {
	if ep.Batch == 1 && len(envs) == 1 {
		return json.Marshal(envs[0])
	}
	return json.Marshal(Envelope{Type: "batch", Timestamp: now.UTC().Format(time.RFC3339), Data: BatchData{Account: account, Events: envs}})
}

// changesOf is a change event's changes, without remote_data unless asked.
func changesOf(raw string, remote bool) (json.RawMessage, error) {
	if remote {
		return json.RawMessage(raw), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, err
	}
	if _, ok := m["remote_data"]; !ok {
		return json.RawMessage(raw), nil
	}
	delete(m, "remote_data")
	return json.Marshal(m)
}

// Ping sends a signed "ping" event to an endpoint and returns the status
// it answered; an error for anything but a 2xx.
func Ping(ctx context.Context, client *http.Client, ep Endpoint, userAgent string, now time.Time) (int, error) {
	ep = withDefaults(ep)
	body, err := json.Marshal(Envelope{Type: "ping", Timestamp: now.UTC().Format(time.RFC3339), Data: map[string]string{"endpoint": ep.ID}})
	if err != nil {
		return 0, err
	}
	d := New(nil, Options{Client: client, UserAgent: userAgent})
	id := "msg_ping_" + strconv.FormatInt(now.UnixNano(), 36)
	code, _, err := d.send(ctx, ep, id, body)
	return code, err
}
