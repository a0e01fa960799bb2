package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// extractMetrics are the collectors of cross-tenant extraction. Their
// labels are query names, from the config.
type extractMetrics struct {
	databases   *prometheus.CounterVec
	rows        *prometheus.CounterVec
	duration    *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	failedShare *prometheus.GaugeVec
	alertShare  prometheus.Gauge
}

func newExtractMetrics(reg prometheus.Registerer) extractMetrics {
	f := promauto.With(reg)
	return extractMetrics{
		databases: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "extract_databases_total",
			Help: "Databases an extraction query ran in, by outcome (ok, failed, skipped)."}, []string{"query", "status"}),
		rows: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "extract_rows_total",
			Help: "Rows extraction queries brought into the mirror."}, []string{"query"}),
		duration: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "extract_duration_seconds",
			Help: "How long the query's last run took over all its databases."}, []string{"query"}),
		lastSuccess: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "extract_last_success_timestamp_seconds",
			Help: "Unix time the query's last run ended that reached its databases (some may have failed alone)."}, []string{"query"}),
		failedShare: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "extract_failed_share",
			Help: "Share of the databases the query's last run tried that failed (0 to 1)."}, []string{"query"}),
		alertShare: f.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "extract_alert_failed_share",
			Help: "extract.alert_failed_share: the failed share above which TursyncExtractFailing fires."}),
	}
}

// ExtractDatabase counts one database's outcome in a run of query.
func (m *Metrics) ExtractDatabase(query, status string, rows int) {
	if m == nil {
		return
	}
	m.trackQuery(query)
	m.extract.databases.WithLabelValues(query, status).Inc()
	if rows > 0 {
		m.extract.rows.WithLabelValues(query).Add(float64(rows))
	}
}

// ExtractRun records the end of a run of query: ok and failed databases,
// its duration, and whether it reached its databases at all.
func (m *Metrics) ExtractRun(query string, ok, failed int, d time.Duration, reached bool, at time.Time) {
	if m == nil {
		return
	}
	m.trackQuery(query)
	m.extract.duration.WithLabelValues(query).Set(d.Seconds())
	share := 0.0
	if ok+failed > 0 {
		share = float64(failed) / float64(ok+failed)
	}
	m.extract.failedShare.WithLabelValues(query).Set(share)
	if reached {
		m.extract.lastSuccess.WithLabelValues(query).Set(unix(at))
	}
}

// ExtractAlertShare exports the configured alert threshold.
func (m *Metrics) ExtractAlertShare(share float64) {
	if m == nil {
		return
	}
	m.extract.alertShare.Set(share)
}

// ExtractQueriesRetained deletes the series of queries no longer
// configured.
func (m *Metrics) ExtractQueriesRetained(keep func(query string) bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for q := range m.extractQueries {
		if keep(q) {
			continue
		}
		delete(m.extractQueries, q)
		for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{m.extract.databases, m.extract.rows,
			m.extract.duration, m.extract.lastSuccess, m.extract.failedShare} {
			v.DeletePartialMatch(prometheus.Labels{"query": q})
		}
	}
}

func (m *Metrics) trackQuery(query string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extractQueries[query] = true
}
