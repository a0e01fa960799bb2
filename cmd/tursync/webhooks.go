package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/tursync/tursync/daemon"

	"github.com/tursync/tursync/storage"
	"github.com/tursync/tursync/turso"
	"github.com/tursync/tursync/webhook"
)

// webhookSchedule is how often the daemon delivers to each endpoint: a
// change waits at most this long, plus its pass, before it is sent.
const webhookSchedule = "@every 5s"

// ErrWebhookFailed means a webhook command ran but a delivery failed; exit 1.
var ErrWebhookFailed = errors.New("webhook delivery failed")

func webhookLease(id string) string { return "webhook:" + id }

// webhookTasks are the daemon's delivery tasks, one per endpoint, each
// under its lease so that one daemon delivers to an endpoint at a time.
// Each endpoint's cursors are started first: an endpoint hears every
// change written after the daemon that first runs it starts (or reloads
// it in), whenever its first delivery runs.
func (d *runner) webhookTasks(cfg Config) []daemon.Task {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ids []string
	for _, w := range cfg.Webhooks {
		ids = append(ids, w.ID)
	}
	if n, err := d.store.Outbox().Forget(ctx, ids); err != nil {
		d.log.Warn("cursors of webhooks no longer configured not removed", "error", err)
	} else if n > 0 {
		d.log.Info("cursors of webhooks no longer configured removed", "cursors", n)
	}
	for _, w := range cfg.Webhooks {
		for _, a := range cfg.webhookAccounts(w) {
			if _, err := d.store.Outbox().Cursor(ctx, w.ID, a); err != nil {
				d.log.Warn("webhook cursor not started; it starts at the first delivery instead", "endpoint", w.ID, "account", a, "error", err)
			}
		}
	}
	var tasks []daemon.Task
	for _, w := range cfg.Webhooks {
		id := w.ID
		tasks = append(tasks, daemon.Task{ID: webhookLease(id), Kind: daemon.TaskWebhook, Schedule: webhookSchedule, Lease: webhookLease(id),
			Run: func(ctx context.Context) error { return d.deliver(ctx, id) }})
	}
	d.metrics.WebhooksRetained(func(ep string) bool {
		return slices.ContainsFunc(cfg.Webhooks, func(w WebhookConfig) bool { return w.ID == ep })
	})
	return tasks
}

// deliver is one scheduled delivery run of an endpoint, as the config now
// says it; then its lag is measured for the metrics.
func (d *runner) deliver(ctx context.Context, id string) error {
	cfg := d.cfg.Load()
	w, err := cfg.webhookNamed(id)
	if err != nil {
		return err
	}
	keys, err := w.Keys(d.w.getenv)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", id, err)
	}
	dl := webhook.New(d.store.Outbox(), webhook.Options{Logger: d.log, Observer: d.metrics, UserAgent: turso.UserAgent()})
	accounts := cfg.webhookAccounts(w)
	var failed error
	for _, r := range dl.Deliver(ctx, w.Endpoint(keys), accounts) {
		if r.Delivered > 0 || r.Dead > 0 {
			d.log.Info("webhook delivered", "endpoint", id, "account", r.Account, "events", r.Delivered, "batches", r.Batches, "dead", r.Dead)
		}
		if r.Err != nil {
			d.log.Warn("webhook delivery failed; retried later", "endpoint", id, "account", r.Account, "error", r.Err)
			failed = r.Err
		}
	}
	lag, err := d.store.Outbox().Lag(ctx, id, accounts)
	if err != nil {
		return err
	}
	d.metrics.WebhookLag(id, lag.Events, lag.AgeAt(d.w.now()))
	return failed
}

// webhookStatus is /status's webhooks: each configured endpoint's lag
// and last attempt.
func (d *runner) webhookStatus(ctx context.Context) ([]daemon.WebhookStatus, error) {
	cfg := d.cfg.Load()
	out := []daemon.WebhookStatus{}
	for _, w := range cfg.Webhooks {
		ws, err := webhookStatusOf(ctx, d.store, d.w.now(), w.ID, cfg.webhookAccounts(w))
		if err != nil {
			return nil, err
		}
		out = append(out, ws)
	}
	return out, nil
}

// runWebhooks is `tursync webhooks list|test|replay`.
func (m *Main) runWebhooks(ctx context.Context, args []string) error {
	sub, rest, err := m.subcommand("webhooks", "list, test or replay", webhookCommands, args)
	if err != nil {
		return err
	}
	fs := m.flags("webhooks " + sub)
	var endpoint, account *string
	var from *int64
	if sub != "list" {
		endpoint = fs.String("endpoint", "", requiredMark+"the webhook id")
	}
	if sub == "replay" {
		from = fs.Int64("from", 0, requiredMark+"the first change event id to send again")
		account = fs.String("account", "", "only this account (default: the endpoint's accounts)")
	}
	output := outputFlag(fs)
	cfg, _, err := m.parseWithConfig(fs, rest)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	asJSON := *output == "json"
	switch sub {
	case "list":
		return m.webhooksList(ctx, cfg, asJSON)
	case "test":
		return m.webhooksTest(ctx, cfg, *endpoint, asJSON)
	}
	return m.webhooksReplay(ctx, cfg, *endpoint, *account, *from, asJSON)
}

// webhooksList prints each endpoint's lag and last attempt; as JSON, the
// webhooks of /status.
func (m *Main) webhooksList(ctx context.Context, cfg Config, asJSON bool) error {
	st, err := m.wiring().openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	list := []daemon.WebhookStatus{}
	for _, w := range cfg.Webhooks {
		ws, err := webhookStatusOf(ctx, st, m.Now(), w.ID, cfg.webhookAccounts(w))
		if err != nil {
			return err
		}
		list = append(list, ws)
	}
	if asJSON {
		return writeJSON(m.Stdout, map[string]any{"webhooks": list})
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "endpoint\taccounts\tbehind\toldest undelivered\tlast attempt")
	for _, ws := range list {
		oldest := "-"
		if ws.OldestAgeSeconds != nil && *ws.OldestAgeSeconds > 0 {
			oldest = (time.Duration(*ws.OldestAgeSeconds) * time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d events\t%s\t%s\n", ws.Endpoint, ws.Accounts, ws.Behind, oldest, describeAttempt(ws.LastAttempt))
	}
	return tw.Flush()
}

// webhookStatusOf is one endpoint's lag and last attempt, as /status and
// `webhooks list` show them.
func webhookStatusOf(ctx context.Context, st *storage.Store, now time.Time, id string, accounts []string) (daemon.WebhookStatus, error) {
	ws := daemon.WebhookStatus{Endpoint: id, Accounts: len(accounts)}
	lag, err := st.Outbox().Lag(ctx, id, accounts)
	if err != nil {
		return ws, err
	}
	ws.Behind = lag.Events
	if !lag.Oldest.IsZero() {
		age := lag.AgeAt(now)
		ws.OldestAgeSeconds = &age
	}
	last, err := st.Outbox().LastDelivery(ctx, id)
	if err != nil {
		return ws, err
	}
	if last != nil {
		ws.LastAttempt = &daemon.WebhookAttemptStatus{At: last.At, Account: last.Account, Status: last.Status, StatusCode: last.StatusCode,
			Events: last.Events, Attempt: last.Attempt, Error: last.Error}
	}
	return ws, nil
}

func describeAttempt(d *daemon.WebhookAttemptStatus) string {
	if d == nil {
		return "none"
	}
	s := fmt.Sprintf("%s %s (%d events, attempt %d)", d.At.Format(time.RFC3339), d.Status, d.Events, d.Attempt)
	if d.Error != "" {
		s += ": " + d.Error
	}
	return s
}

// webhooksTest sends a signed ping to an endpoint.
func (m *Main) webhooksTest(ctx context.Context, cfg Config, id string, asJSON bool) error {
	w, err := cfg.webhookNamed(id)
	if err != nil {
		return err
	}
	keys, err := w.Keys(m.Getenv)
	if err != nil {
		return &ConfigError{Msg: fmt.Sprintf("webhook %s: %v", id, err)}
	}
	code, err := webhook.Ping(ctx, http.DefaultClient, w.Endpoint(keys), turso.UserAgent(), m.Now())
	if asJSON {
		doc := map[string]any{"endpoint": id, "delivered": err == nil, "status_code": code}
		if err != nil {
			doc["error"] = err.Error()
		}
		if werr := writeJSON(m.Stdout, doc); werr != nil {
			return werr
		}
	}
	if err != nil {
		if !asJSON {
			fmt.Fprintf(m.Stdout, "%v\n", err) // names the endpoint
		}
		return ErrWebhookFailed
	}
	if !asJSON {
		fmt.Fprintf(m.Stdout, "webhook %s: ping delivered (HTTP %d)\n", id, code)
	}
	return nil
}

// webhooksReplay puts an endpoint's cursor back so delivery sends again
// every event from an id on.
func (m *Main) webhooksReplay(ctx context.Context, cfg Config, id, account string, from int64, asJSON bool) error {
	w, err := cfg.webhookNamed(id)
	if err != nil {
		return err
	}
	if from < 1 {
		return &UsageError{Msg: "webhooks replay: --from ID (a change_events id, 1 or more) is required"}
	}
	accounts := cfg.webhookAccounts(w)
	if account != "" {
		if !slices.Contains(accounts, account) {
			return &UsageError{Msg: fmt.Sprintf("webhooks replay: endpoint %s does not deliver for account %q", id, account)}
		}
		accounts = []string{account}
	}
	st, err := m.wiring().openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, a := range accounts {
		if err := st.Outbox().ResetCursor(ctx, id, a, from); err != nil {
			return err
		}
	}
	if asJSON {
		return writeJSON(m.Stdout, map[string]any{"endpoint": id, "from_event_id": from, "accounts": accounts})
	}
	fmt.Fprintf(m.Stdout, "webhook %s: delivery starts again at change event %s for %d account(s); the daemon sends it at its next run\n",
		id, strconv.FormatInt(from, 10), len(accounts))
	return nil
}
