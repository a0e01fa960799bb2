package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// exportMetrics are the collectors of exports (docs/exports.md). Their
// labels are export ids from the config and the mirror's table names.
type exportMetrics struct {
	rows        *prometheus.CounterVec
	lag         *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	up          *prometheus.GaugeVec
	known       map[string]bool
}

func newExportMetrics(reg prometheus.Registerer) exportMetrics {
	f := promauto.With(reg)
	return exportMetrics{
		rows: f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "export_rows_total",
			Help: "Rows an export wrote to its target, by table (a full copy counts every row)."}, []string{"export", "table"}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "export_lag_events",
			Help: "Change events the mirror holds past the export's cursor, after its last run (or attempt)."}, []string{"export"}),
		lastSuccess: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "export_last_success_timestamp_seconds",
			Help: "When the export's last successful run ended (Unix seconds)."}, []string{"export"}),
		up: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "export_up",
			Help: "1 when the export's last run succeeded, 0 when it failed."}, []string{"export"}),
		known: map[string]bool{},
	}
}

// ExportRan records a run of an export: the rows it wrote by table (none
// when it failed), whether it succeeded and when it ended, and the change
// events the mirror holds past its cursor (lag < 0: unknown, kept).
func (m *Metrics) ExportRan(export string, rows map[string]int64, ok bool, endedUnix float64, lag int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	em := &m.export
	em.known[export] = true
	for table, n := range rows {
		em.rows.WithLabelValues(export, table).Add(float64(n))
	}
	if ok {
		em.up.WithLabelValues(export).Set(1)
		em.lastSuccess.WithLabelValues(export).Set(endedUnix)
	} else {
		em.up.WithLabelValues(export).Set(0)
	}
	if lag >= 0 {
		em.lag.WithLabelValues(export).Set(float64(lag))
	}
}

// ExportsRetained drops the series of exports no longer configured.
func (m *Metrics) ExportsRetained(keep func(export string) bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for e := range m.export.known {
		if keep(e) {
			continue
		}
		m.export.rows.DeletePartialMatch(prometheus.Labels{"export": e})
		m.export.lag.DeleteLabelValues(e)
		m.export.lastSuccess.DeleteLabelValues(e)
		m.export.up.DeleteLabelValues(e)
		delete(m.export.known, e)
	}
}
