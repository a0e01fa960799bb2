package tursync_test

import (
	"os/exec"
	"testing"

	"github.com/tursync/tursync/internal/testbin"
)

// TestAlertRules checks deploy/prometheus with promtool: the rules and the
// scrape config load, and the rule unit tests (each alert firing and not
// firing) pass.
func TestAlertRules(t *testing.T) {
	promtool := testbin.Find(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"check", "config", "prometheus.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "deploy/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
