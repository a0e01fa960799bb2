package webhook

import (
	"context"
	"time"

	"github.com/tursync/tursync/storage"
)

// ExportFailed is the type of an export run's failure event.
const ExportFailed = "export.failed"

// ExportData is an export.failed event in a delivery: the run that failed
// (export_runs), whose target stays as the last good run left it.
type ExportData struct {
	RunID      int64  `json:"run_id"`
	Export     string `json:"export"`
	Trigger    string `json:"trigger"`
	ErrorClass string `json:"error_class,omitempty"`
	Error      string `json:"error"`
}

func (d *Deliverer) exports(ep Endpoint) stream {
	return stream{key: storage.ExportStream(ep.ID),
		cursor: func(ctx context.Context) (int64, error) { return d.store.ExportCursor(ctx, ep.ID) },
		next: func(ctx context.Context, cursor int64, pending storage.WebhookDelivery, retry bool) (batch, error) {
			return scanBatch(ep, cursor, pending, retry,
				func(after int64, limit int) ([]storage.ExportEvent, error) {
					return d.store.ExportEventsAfter(ctx, after, limit)
				},
				func(e storage.ExportEvent) (int64, string) { return e.ID, ExportFailed },
				func(e storage.ExportEvent) (Envelope, error) {
					return Envelope{Type: ExportFailed, Timestamp: e.At.UTC().Format(time.RFC3339),
						Data: ExportData{RunID: e.ID, Export: e.Export, Trigger: e.Trigger, ErrorClass: e.ErrorClass, Error: e.Error}}, nil
				})
		}}
}
