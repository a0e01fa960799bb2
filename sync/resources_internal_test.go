package sync

import (
	"testing"

	"github.com/tursync/tursync/schema"
)

// Every resource of schema.Registry has a reader (a route and a fetch), and
// every reader a resource: a resource added on one side only fails here,
// not at the first pass that misses it. Internal: readers is the package's
// own table.
func TestEveryResourceHasAReader(t *testing.T) {
	for _, r := range schema.Registry {
		rd, ok := readers[r.Name]
		if !ok || rd.fetch == nil || rd.route == "" {
			t.Errorf("resource %q has no reader (a route and a fetch) in sync/resources.go", r.Name)
		}
	}
	for name := range readers {
		if schema.Lookup(name) == nil {
			t.Errorf("reader %q has no schema.Registry entry", name)
		}
	}
	if len(registry) != len(schema.Registry) {
		t.Errorf("registry has %d resources, schema.Registry %d", len(registry), len(schema.Registry))
	}
	for i, r := range registry {
		if r.Resource != schema.Registry[i] {
			t.Errorf("registry[%d] is %q, out of schema.Registry's order", i, r.Name)
		}
	}
}
