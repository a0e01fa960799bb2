package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// policyMetrics are the collectors of policy evaluation. Their labels are
// policy names and severities, from the config.
type policyMetrics struct {
	violations *prometheus.GaugeVec
	up         *prometheus.GaugeVec
	// last holds each policy's outcome per account, which the gauges sum
	// (violations) and take the worst of (up) over the accounts.
	last map[string]map[string]policyOutcome
}

type policyOutcome struct {
	severity string
	ok       bool
	open     int
}

func newPolicyMetrics(reg prometheus.Registerer) policyMetrics {
	f := promauto.With(reg)
	return policyMetrics{
		violations: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "policy_violations",
			Help: "Open violations of a policy over its accounts, after each one's last evaluation."}, []string{"policy", "severity"}),
		up: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "policy_up",
			Help: "1 when the policy's last evaluation ran for every account it applies to, 0 when one failed."}, []string{"policy"}),
		last: map[string]map[string]policyOutcome{},
	}
}

// PolicyEvaluated records a policy's evaluation for an account: ok, and
// the violations open after it (those of a failed evaluation stay open);
// open < 0 when they are unknown (the mirror refused the outcome): the
// account's last count stands.
func (m *Metrics) PolicyEvaluated(policy, severity, account string, ok bool, open int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pm := &m.policy
	if pm.last[policy] == nil {
		pm.last[policy] = map[string]policyOutcome{}
	}
	if open < 0 {
		open = pm.last[policy][account].open
	}
	pm.last[policy][account] = policyOutcome{severity: severity, ok: ok, open: open}
	total, up := 0, 1.0
	for _, o := range pm.last[policy] {
		total += o.open
		if !o.ok {
			up = 0
		}
	}
	// A severity changed in the config moves the series.
	pm.violations.DeletePartialMatch(prometheus.Labels{"policy": policy})
	pm.violations.WithLabelValues(policy, severity).Set(float64(total))
	pm.up.WithLabelValues(policy).Set(up)
}

// PoliciesRetained drops the series of policies no longer configured.
func (m *Metrics) PoliciesRetained(keep func(policy string) bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.policy.last {
		if keep(p) {
			continue
		}
		m.policy.violations.DeletePartialMatch(prometheus.Labels{"policy": p})
		m.policy.up.DeleteLabelValues(p)
		delete(m.policy.last, p)
	}
}
