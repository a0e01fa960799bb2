package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// webhookMetrics are the collectors of webhook delivery. Their labels are
// endpoint ids, from the config.
type webhookMetrics struct {
	deliveries *prometheus.CounterVec
	dead       *prometheus.CounterVec
	lag        *prometheus.GaugeVec
	oldestAge  *prometheus.GaugeVec
}

func newWebhookMetrics(reg prometheus.Registerer) webhookMetrics {
	f := promauto.With(reg)
	return webhookMetrics{
		deliveries: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "webhook_deliveries_total",
			Help: "Delivery attempts to a webhook endpoint, by the HTTP status it answered (error: no answer)."}, []string{"endpoint", "code"}),
		dead: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "webhook_dead_events_total",
			Help: "Events of batches given up on past max_age (tursync webhooks replay sends them again)."}, []string{"endpoint"}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "webhook_lag_events",
			Help: "Change events not yet delivered to the endpoint, over its accounts."}, []string{"endpoint"}),
		oldestAge: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "webhook_oldest_undelivered_age_seconds",
			Help: "Age of the oldest change event not yet delivered to the endpoint; 0 when it is caught up."}, []string{"endpoint"}),
	}
}

// WebhookAttempt counts one delivery attempt (webhook.Observer).
func (m *Metrics) WebhookAttempt(endpoint, code string, _ int) {
	if m == nil {
		return
	}
	m.trackEndpoint(endpoint)
	m.webhook.deliveries.WithLabelValues(endpoint, code).Inc()
}

func (m *Metrics) trackEndpoint(endpoint string) {
	m.mu.Lock()
	m.webhookEndpoints[endpoint] = true
	m.mu.Unlock()
}

// WebhookDead counts the events of a dead batch (webhook.Observer).
func (m *Metrics) WebhookDead(endpoint string, events int) {
	if m == nil {
		return
	}
	m.trackEndpoint(endpoint)
	m.webhook.dead.WithLabelValues(endpoint).Add(float64(events))
}

// WebhookLag sets how far an endpoint is behind.
func (m *Metrics) WebhookLag(endpoint string, events int64, oldestAgeSeconds float64) {
	if m == nil {
		return
	}
	m.trackEndpoint(endpoint)
	m.webhook.lag.WithLabelValues(endpoint).Set(float64(events))
	m.webhook.oldestAge.WithLabelValues(endpoint).Set(oldestAgeSeconds)
}

// WebhooksRetained drops the series of endpoints no longer configured.
func (m *Metrics) WebhooksRetained(keep func(endpoint string) bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for ep := range m.webhookEndpoints {
		if keep(ep) {
			continue
		}
		m.webhook.deliveries.DeletePartialMatch(prometheus.Labels{"endpoint": ep})
		m.webhook.dead.DeleteLabelValues(ep)
		m.webhook.lag.DeleteLabelValues(ep)
		m.webhook.oldestAge.DeleteLabelValues(ep)
		delete(m.webhookEndpoints, ep)
	}
}
