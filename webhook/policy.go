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

// nextPolicyBatch reads the policy events after the cursor.
func (d *Deliverer) nextPolicyBatch(ctx context.Context, ep Endpoint, account string, cursor int64, pending storage.WebhookDelivery, retry bool) (batch, error) {
	return scanBatch(ep, cursor, pending, retry,
		func(after int64, limit int) ([]storage.PolicyEvent, error) {
			return d.store.PolicyEventsAfter(ctx, account, after, limit)
		},
		func(e storage.PolicyEvent) (int64, string) { return e.ID, e.Type },
		func(e storage.PolicyEvent) (Envelope, error) {
			return Envelope{Type: e.Type, Timestamp: e.At.UTC().Format(time.RFC3339),
				Data: PolicyData{ID: e.ID, Account: e.Account, Policy: e.Policy, Severity: e.Severity, Organization: e.Org,
					SubjectType: e.SubjectType, SubjectID: e.SubjectID, Details: json.RawMessage(e.Details)}}, nil
		})
}
