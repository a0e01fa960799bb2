package metrics

import (
	"testing"

	"github.com/tursync/tursync/storage"
)

// metrics names the scope statuses it compares without importing the
// mirror's packages; they must stay the mirror's words.
func TestScopeStatusesMatchTheMirror(t *testing.T) {
	for ours, mirror := range map[string]string{statusComplete: storage.StatusComplete, statusGuarded: storage.StatusGuarded,
		statusUnavailable: storage.StatusUnavailable} {
		if ours != mirror {
			t.Errorf("metrics says %q where the mirror says %q", ours, mirror)
		}
	}
}
