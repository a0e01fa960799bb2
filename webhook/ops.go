package webhook

import (
	"context"
	"time"

	"github.com/tursync/tursync/storage"
)

// OpsData is an operational event in a delivery.
type OpsData struct {
	RunID               int64  `json:"run_id"`
	Account             string `json:"account"`
	Organization        string `json:"organization,omitempty"`
	Resource            string `json:"resource,omitempty"`
	DeletesHeld         int    `json:"deletes_held,omitempty"`
	Release             string `json:"release,omitempty"` // the command that applies the held deletes
	ErrorClass          string `json:"error_class,omitempty"`
	Error               string `json:"error,omitempty"`
	ConsecutiveFailures int    `json:"consecutive_failures,omitempty"`
	TokenExpiresAt      string `json:"token_expires_at,omitempty"`
}

// nextOpsBatch reads the operational events of the runs after the cursor:
// those of the failed batch again when there is one, otherwise whole runs
// up to ep.Batch events (a run with more goes alone: a run is never split,
// since the cursor counts runs).
func (d *Deliverer) nextOpsBatch(ctx context.Context, ep Endpoint, account string, cursor int64, pending storage.WebhookDelivery, retry bool) (batch, error) {
	b := batch{first: cursor + 1}
	evs, last, err := d.store.RunEventsAfter(ctx, account, cursor, ep.Batch)
	if err != nil || last == cursor {
		return b, err
	}
	b.scanned, b.last = int(last-cursor), last
	var run int64
	var runEnvs []Envelope
	flush := func() bool {
		if len(b.events) > 0 && len(b.events)+len(runEnvs) > ep.Batch {
			return false
		}
		b.events = append(b.events, runEnvs...)
		return true
	}
	for _, e := range evs {
		if retry && e.RunID > pending.LastEventID {
			break
		}
		if e.RunID != run {
			if run != 0 && !flush() {
				b.last = run - 1
				return b, nil
			}
			run, runEnvs = e.RunID, nil
		}
		if ep.matches(e.Type) {
			runEnvs = append(runEnvs, opsEnvelope(e))
		}
	}
	if run != 0 && !flush() {
		b.last = run - 1
	}
	if retry {
		b.last = min(b.last, pending.LastEventID)
	}
	return b, nil
}

func opsEnvelope(e storage.OpsEvent) Envelope {
	data := OpsData{RunID: e.RunID, Account: e.Account, Organization: e.Org, Resource: e.Resource, DeletesHeld: e.DeletesHeld,
		ErrorClass: e.ErrorClass, Error: e.Error, ConsecutiveFailures: e.ConsecutiveFailures}
	if !e.TokenExpiresAt.IsZero() {
		data.TokenExpiresAt = e.TokenExpiresAt.UTC().Format(time.RFC3339)
	}
	if e.Type == "scope.guarded" {
		// As sync.ReleaseCommand writes it (webhook does not import sync).
		data.Release = "tursync sync --config CONFIG --force-deletes --account " + e.Account
		if e.Org != "" {
			data.Release += " --org " + e.Org
		}
	}
	return Envelope{Type: e.Type, Timestamp: e.At.UTC().Format(time.RFC3339), Data: data}
}
