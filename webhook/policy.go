package webhook

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tursync/tursync/storage"
)

// PolicyData is a policy event in a delivery: a violation opened
// (policy.violated) or resolved (policy.resolved).
type PolicyData struct {
	ID           int64           `json:"id"`
	Account      string          `json:"account"`
	Policy       string          `json:"policy"`
	Severity     string          `json:"severity"`
	Organization string          `json:"organization"`
	SubjectType  string          `json:"subject_type"`
	SubjectID    string          `json:"subject_id"`
	Details      json.RawMessage `json:"details"`
}

func (d *Deliverer) policies(ep Endpoint, account string) stream {
	return stream{key: storage.PolicyStream(ep.ID),
		cursor: func(ctx context.Context) (int64, error) { return d.store.PolicyCursor(ctx, ep.ID, account) },
		next: func(ctx context.Context, cursor int64, pending storage.WebhookDelivery, retry bool) (batch, error) {
			return d.nextPolicyBatch(ctx, ep, account, cursor, pending, retry)
		}}
}

// nextPolicyBatch reads the policy events after the cursor: those of the
// failed batch again when there is one, otherwise up to ep.Batch matching
// events.
func (d *Deliverer) nextPolicyBatch(ctx context.Context, ep Endpoint, account string, cursor int64, pending storage.WebhookDelivery, retry bool) (batch, error) {
	limit := max(ep.Batch*4, 256)
	b := batch{first: cursor + 1}
	for {
		evs, err := d.store.PolicyEventsAfter(ctx, account, cursor, limit)
		if err != nil {
			return b, err
		}
		for _, e := range evs {
			if retry && e.ID > pending.LastEventID {
				return b, nil
			}
			b.scanned++
			b.last = e.ID
			if ep.matches(e.Type) {
				b.events = append(b.events, Envelope{Type: e.Type, Timestamp: e.At.UTC().Format(time.RFC3339),
					Data: PolicyData{ID: e.ID, Account: e.Account, Policy: e.Policy, Severity: e.Severity, Organization: e.Org,
						SubjectType: e.SubjectType, SubjectID: e.SubjectID, Details: json.RawMessage(e.Details)}})
				if len(b.events) == ep.Batch {
					return b, nil
				}
			}
		}
		if len(evs) < limit {
			return b, nil
		}
		cursor = evs[len(evs)-1].ID
	}
}
