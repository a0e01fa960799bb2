package policy_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/tursync/tursync/policy"
)

var update = flag.Bool("update", false, "rewrite the built-in pack's part of docs/policies.md")

// The marker after which docs/policies.md is generated.
const builtinsMarker = "<!-- The built-in pack, generated from policy.Builtins by `go test ./policy -run TestPoliciesDoc -update`: do not edit below. -->\n"

// docs/policies.md lists every builtin with its SQL as the code holds it.
func TestPoliciesDoc(t *testing.T) {
	const path = "../docs/policies.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(raw), builtinsMarker)
	if !ok {
		t.Fatalf("%s lacks the marker %q", path, builtinsMarker)
	}
	want := head + builtinsMarker + policy.BuiltinsMarkdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(raw) != want {
		t.Errorf("%s is stale: run go test ./policy -run TestPoliciesDoc -update", path)
	}
}
