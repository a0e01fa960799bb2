// Package turso is a read-only client of the Turso Platform API: wire types
// decoded exactly as the API sends them, bearer auth, pagination, retries that
// honour Retry-After, a token bucket per token and a typed *APIError with a
// class. It knows nothing of the mirror.
package turso

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

// Version is stamped into the User-Agent; the build sets it
// (-X github.com/tursync/tursync/turso.Version=..., scripts/build.sh).
var Version = "dev"

// UserAgent is what every request says of its client.
func UserAgent() string { return "tursync/" + Version + " (+https://github.com/tursync/tursync)" }

// Defaults of the client; config.example.yaml lists the keys that change them.
const (
	DefaultBaseURL          = "https://api.turso.tech"
	DefaultTimeout          = 30 * time.Second
	DefaultMaxRetries       = 6
	DefaultMaxResponseBytes = 256 << 20
	// MaxRetryAfter caps what a Retry-After header can make us wait.
	MaxRetryAfter = 5 * time.Minute
	// DatabasePageSize is the page size of the databases list; the API cuts
	// an unpaginated list at 1000.
	DatabasePageSize = 1000
	// AuditLogPageSize is the page size of the audit-log list.
	AuditLogPageSize = 100
)

// Observer receives what the client does, for metrics. Every method may be
// called from many goroutines.
type Observer interface {
	Request(endpoint string, code int, d time.Duration)
	Retry(reason string)
	RateLimited(d time.Duration)
}

// Options configure a Client. Zero values take the defaults.
type Options struct {
	BaseURL          string
	Token            Secret
	HTTPClient       *http.Client
	Timeout          time.Duration // per request attempt
	MaxRetries       int
	MaxResponseBytes int64
	// MaxFieldBytes caps one string of an answer (DefaultMaxFieldBytes);
	// an answer holding a longer one fails, class decode.
	MaxFieldBytes int64
	// BaseURLSource names where BaseURL comes from ("api.base_url"), for
	// the error of an API nothing answers at.
	BaseURLSource string
	// Limiter is the token bucket of this token, shared by every client that
	// uses the same token. Nil means unlimited.
	Limiter  *rate.Limiter
	Observer Observer
	// Sleep waits d or until ctx ends; tests inject one that records the
	// waits instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock used to read Retry-After dates.
	Now func() time.Time
	// TokenSource names where the token came from ("environment variable
	// ACME_TURSO_TOKEN"), so a refused token's error says where to put a
	// new one. Never the token itself.
	TokenSource string
	// Logger, when set, hears about every retry as it starts waiting, so
	// an unreachable API is not 20 silent seconds.
	Logger *slog.Logger
}

// Client calls the Platform API with one token.
type Client struct {
	opts    Options
	base    *url.URL
	reqs    atomic.Int64
	retries atomic.Int64
	waitedN atomic.Int64 // nanoseconds waited on rate limits
}

// Stats counts what a client did since it was made.
type Stats struct {
	Requests           int64
	Retries            int64
	RateLimitedSeconds float64
}

// Since returns what was counted after before: a client lives across
// passes in the daemon, and a pass reports only its own requests.
func (st Stats) Since(before Stats) Stats {
	return Stats{Requests: st.Requests - before.Requests, Retries: st.Retries - before.Retries,
		RateLimitedSeconds: st.RateLimitedSeconds - before.RateLimitedSeconds}
}

// NewClient checks the options and returns a client.
func NewClient(o Options) (*Client, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api base url %q: want http(s)://host", o.BaseURL)
	}
	if o.Token.Empty() {
		return nil, errors.New("api token is empty")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.MaxFieldBytes <= 0 {
		o.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{opts: o, base: u}, nil
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:           c.reqs.Load(),
		Retries:            c.retries.Load(),
		RateLimitedSeconds: time.Duration(c.waitedN.Load()).Seconds(),
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// call is one logical GET: the route template (for metrics and errors), the
// concrete path and query.
type call struct {
	method   string // "" is GET
	endpoint string
	org      string
	path     string
	query    url.Values
	// stream, when set, reads a 200's body as it arrives instead of the
	// body being read whole first. A failure once it started is not
	// retried: stream may have handed part of the body on already.
	stream func(io.Reader) error
}

func (cl call) httpMethod() string {
	if cl.method == "" {
		return http.MethodGet
	}
	return cl.method
}

// errStreamed marks a failure inside call.stream, which must not be retried.
type errStreamed struct{ err *APIError }

func (e errStreamed) Error() string { return e.err.Error() }

// getStream performs the call with retries, reading a 200's body with
// stream as it arrives. An error of the caller's page function, carried out
// of the decoder as a pageFnError, comes back as it is.
func (c *Client) getStream(ctx context.Context, cl call, stream func(io.Reader) error) error {
	var fnErr error
	cl.stream = func(r io.Reader) error {
		err := stream(r)
		var pe pageFnError
		if errors.As(err, &pe) {
			fnErr = pe.err
		}
		return err
	}
	if _, err := c.get(ctx, cl); err != nil {
		if fnErr != nil {
			return fnErr
		}
		return err
	}
	return nil
}

// get performs the call with retries and returns the body of a 200.
func (c *Client) get(ctx context.Context, cl call) ([]byte, error) {
	var lastErr *APIError
	for attempt := 0; ; attempt++ {
		body, retryAfter, err := c.attempt(ctx, cl)
		if err == nil {
			return body, nil
		}
		var se errStreamed
		if errors.As(err, &se) {
			return nil, se.err
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			return nil, err // context ended
		}
		lastErr = ae
		// Refused, or a host that does not resolve, twice: a wrong
		// base URL far more often than a blip; say so now, not after
		// every retry's backoff.
		if !retryable(ae) || attempt >= c.opts.MaxRetries || attempt >= 1 && unreachable(ae.Err) {
			return nil, lastErr
		}
		reason := string(ae.Class)
		if ae.Status >= 500 {
			reason = "server"
		}
		if c.opts.Observer != nil {
			c.opts.Observer.Retry(reason)
		}
		c.retries.Add(1)
		wait := backoff(attempt)
		// Jitter may lengthen the wait but never cut a Retry-After short.
		if retryAfter > wait {
			wait = retryAfter
		}
		if ae.Class == ClassRateLimited {
			c.noteWait(wait)
		}
		if c.opts.Logger != nil {
			what := "Platform API request failed; retrying"
			if ae.Class == ClassNetwork {
				what = "Platform API unreachable; retrying"
			}
			c.opts.Logger.Warn(what, "endpoint", cl.endpoint, "org", cl.org, "attempt", attempt+1,
				"max_retries", c.opts.MaxRetries, "wait", wait.Round(time.Millisecond).String(), "error", ae.Error())
		}
		if err := c.opts.Sleep(ctx, wait); err != nil {
			return nil, &APIError{Endpoint: cl.endpoint, Org: cl.org, Class: ClassNetwork, Err: fmt.Errorf("retry wait: %w", err)}
		}
	}
}

func (c *Client) noteWait(d time.Duration) {
	c.waitedN.Add(int64(d))
	if c.opts.Observer != nil {
		c.opts.Observer.RateLimited(d)
	}
}

func retryable(e *APIError) bool {
	switch e.Class {
	case ClassRateLimited, ClassNetwork:
		return true
	case ClassServer:
		return e.Status >= 500
	}
	return false
}

// backoff is exponential from 500ms, capped at 30s, with full jitter on the
// upper half so retries of many jobs spread out.
func backoff(attempt int) time.Duration {
	d := 500 * time.Millisecond << min(attempt, 6)
	if d > 30*time.Second {
		d = 30 * time.Second
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func (c *Client) attempt(ctx context.Context, cl call) (body []byte, retryAfter time.Duration, err error) {
	if err := c.waitTurn(ctx, cl); err != nil {
		return nil, 0, err
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	start := time.Now()
	resp, err := c.do(actx, cl)
	if err != nil {
		c.observe(cl.endpoint, 0, start)
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	var in io.Reader = resp.Body
	var fields *fieldCap
	if resp.StatusCode == http.StatusOK {
		fields = newFieldCap(resp.Body, c.opts.MaxFieldBytes)
		in = fields
		if cl.stream != nil {
			err := c.readStream(ctx, cl, in, fields)
			c.observe(cl.endpoint, resp.StatusCode, start)
			return nil, 0, err
		}
	}
	body, err = io.ReadAll(io.LimitReader(in, c.opts.MaxResponseBytes+1))
	c.observe(cl.endpoint, resp.StatusCode, start)
	if fields != nil && fields.err != nil {
		return nil, 0, &APIError{Endpoint: cl.endpoint, Org: cl.org, Status: resp.StatusCode, Class: ClassDecode, Err: fields.err}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		return nil, 0, &APIError{Endpoint: cl.endpoint, Org: cl.org, Status: resp.StatusCode, Class: ClassNetwork, Err: fmt.Errorf("read body: %w", scrubURL(err))}
	}
	if int64(len(body)) > c.opts.MaxResponseBytes {
		return nil, 0, &APIError{Endpoint: cl.endpoint, Org: cl.org, Status: resp.StatusCode, Class: ClassDecode,
			Err: fmt.Errorf("response larger than the %d-byte cap", c.opts.MaxResponseBytes)}
	}
	if resp.StatusCode == http.StatusOK {
		return body, 0, nil
	}
	ae := &APIError{Method: cl.method, Endpoint: cl.endpoint, Org: cl.org, Status: resp.StatusCode, Class: classifyStatus(resp.StatusCode)}
	ae.Message, ae.Code = errorBody(body)
	if ae.Class == ClassAuth {
		ae.Hint = c.tokenHint()
	}
	return nil, parseRetryAfter(resp.Header.Get("Retry-After"), c.opts.Now()), ae
}

// waitTurn waits for the token's bucket, counting a noticeable wait as
// rate limiting.
func (c *Client) waitTurn(ctx context.Context, cl call) error {
	if c.opts.Limiter != nil {
		start := time.Now()
		if err := c.opts.Limiter.Wait(ctx); err != nil {
			return &APIError{Endpoint: cl.endpoint, Org: cl.org, Class: ClassNetwork, Err: fmt.Errorf("rate limiter: %w", err)}
		}
		if w := time.Since(start); w > time.Millisecond {
			c.noteWait(w)
		}
	}
	return ctx.Err()
}

// do sends the call's request; a transport error is a network APIError
// that names neither the URL nor the token.
func (c *Client) do(ctx context.Context, cl call) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + cl.path
	u.RawQuery = cl.query.Encode()
	req, err := http.NewRequestWithContext(ctx, cl.httpMethod(), u.String(), nil)
	if err != nil {
		return nil, &APIError{Endpoint: cl.endpoint, Org: cl.org, Class: ClassNetwork, Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.opts.Token.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent())
	c.reqs.Add(1)
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, &APIError{Endpoint: cl.endpoint, Org: cl.org, Class: ClassNetwork, Err: c.explainUnreachable(scrubURL(err))}
	}
	return resp, nil
}

// readStream hands a 200's body to the call's stream as it arrives; a
// failure is final (errStreamed): part of the answer was handed on.
func (c *Client) readStream(ctx context.Context, cl call, in io.Reader, fields *fieldCap) error {
	r := &capReader{r: in, left: c.opts.MaxResponseBytes}
	err := cl.stream(r)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	ae := &APIError{Endpoint: cl.endpoint, Org: cl.org, Status: http.StatusOK, Class: ClassDecode, Err: err}
	switch {
	case fields.err != nil:
		ae.Err = fields.err
	case r.over:
		ae.Err = fmt.Errorf("response larger than the %d-byte cap", c.opts.MaxResponseBytes)
	case r.err != nil:
		ae.Class, ae.Err = ClassNetwork, fmt.Errorf("read body: %w", scrubURL(r.err))
	}
	return errStreamed{ae}
}

// tokenHint says where the refused token lives and how to make another.
func (c *Client) tokenHint() string {
	src := "the configured token"
	if c.opts.TokenSource != "" {
		src = "the token in " + c.opts.TokenSource
	}
	return src + " was refused (revoked, expired or mistyped): create a new one with `turso auth api-tokens mint tursync` and put it there"
}

// capReader reads at most left bytes, remembering a read error and whether
// the body went past the cap.
type capReader struct {
	r    io.Reader
	left int64
	over bool
	err  error
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.over = true
		return 0, errors.New("response over the cap")
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

func (c *Client) observe(endpoint string, code int, start time.Time) {
	if c.opts.Observer != nil {
		c.opts.Observer.Request(endpoint, code, time.Since(start))
	}
}

// scrubURL drops the URL from a transport error: it is noise, and a proxy URL
// could carry credentials.
// unreachable reports a connection refused or a host that does not
// resolve: nothing answers at the base URL.
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

// explainUnreachable names the base URL and where it is set when nothing
// answers there.
func (c *Client) explainUnreachable(err error) error {
	if !unreachable(err) {
		return err
	}
	src := c.opts.BaseURLSource
	if src == "" {
		src = "the base URL"
	}
	return fmt.Errorf("%w: nothing answers at %s; check %s", err, c.base.Redacted(), src)
}

func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errorBody reads the API's {"error": ..., "code": ...}; anything else (an
// HTML page from a proxy) is reported by its first bytes.
func errorBody(body []byte) (msg, code string) {
	var e struct {
		Error any    `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Error != nil || e.Code != "") {
		switch v := e.Error.(type) {
		case string:
			msg = v
		case nil:
		default:
			b, _ := json.Marshal(v)
			msg = string(b)
		}
		return truncate(msg, 300), truncate(e.Code, 100)
	}
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return "", ""
	}
	return "non-JSON body: " + truncate(s, 200), ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseRetryAfter reads seconds or an HTTP date, capped at MaxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}

// decodeErr wraps a JSON failure as a decode-class error.
func decodeErr(cl call, err error) error {
	return &APIError{Endpoint: cl.endpoint, Org: cl.org, Status: 200, Class: ClassDecode, Err: err}
}

// compactRaw removes insignificant whitespace from an element, into a copy.
func compactRaw(b json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return append(json.RawMessage(nil), b...)
	}
	return buf.Bytes()
}

func orgPath(format, org string) string {
	return fmt.Sprintf(format, url.PathEscape(org))
}
