package tursync_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportArrows keeps the package graph of docs/style.md: cmd -> daemon
// -> sync -> {turso, mapper, storage, metrics, lease}, mapper -> {turso,
// schema}, storage -> schema, extract -> {turso, storage, schema}, webhook
// -> {storage, schema}, lease -> storage; sync is one pass and never knows
// the daemon, turso and storage never import each other, mapper does no
// I/O, nothing imports cmd, and the test helpers never reach the binary.
func TestImportArrows(t *testing.T) {
	const mod = "github.com/tursync/tursync/"
	forbidden := map[string][]string{
		"turso":           {"storage", "schema", "mapper", "sync", "metrics", "cmd/tursync"},
		"turso/tursotest": {"storage", "schema", "mapper", "sync", "metrics", "cmd/tursync"},
		"schema":          {"turso", "storage", "mapper", "sync", "metrics", "cmd/tursync"},
		"mapper":          {"storage", "sync", "metrics", "cmd/tursync"},
		"storage":         {"turso", "mapper", "sync", "metrics", "lease", "daemon", "cmd/tursync"},
		// Leases know the mirror only: every writer holds its own through it.
		"lease":   {"turso", "mapper", "sync", "metrics", "extract", "webhook", "daemon", "cmd/tursync"},
		"metrics": {"turso", "storage", "mapper", "schema", "sync", "daemon", "statuspage", "cmd/tursync"},
		// A pass of one account: scheduling, tasks and /status are the daemon's.
		"sync": {"daemon", "extract", "webhook", "cmd/tursync"},
		// The daemon schedules passes and tasks: extraction and delivery
		// reach it as tasks cmd hands it.
		"extract": {"mapper", "sync", "metrics", "daemon", "cmd/tursync"},
		// Checking a statement is pure: it knows nothing else of ours.
		"sqlcheck": {"turso", "storage", "schema", "mapper", "sync", "metrics", "lease", "extract", "webhook", "daemon", "cmd/tursync"},
		// Policies read and write the mirror alone; the daemon and the
		// commands call them after a pass.
		"policy": {"turso", "mapper", "sync", "lease", "extract", "webhook", "daemon", "cmd/tursync"},
		// Delivery reads the mirror and knows no Platform API.
		"webhook": {"turso", "mapper", "sync", "metrics", "extract", "daemon", "cmd/tursync"},
		// Exports read the mirror and write a warehouse; they know no
		// Platform API and no daemon.
		"export": {"turso", "mapper", "sync", "metrics", "lease", "extract", "webhook", "policy", "daemon", "cmd/tursync"},
		// The status page renders /status and reads the mirror; nothing
		// but cmd serves it.
		"statuspage": {"extract", "webhook", "policy", "export", "cmd/tursync"},
		"daemon":     {"extract", "webhook", "statuspage", "cmd/tursync"},
		// The test helpers never reach the binary.
		"cmd/tursync": {"internal/sqldtest", "internal/testclock", "internal/testbin", "internal/webhooktest", "internal/testproc", "internal/testlong",
			"internal/testmirror", "internal/testmetrics", "internal/testwait", "internal/pgtest", "internal/duckdbtest", "internal/testport", "sync/synctest"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		for _, b := range bad {
			name := b
			if !strings.Contains(b, "/") || strings.HasPrefix(b, "cmd/") || strings.HasPrefix(b, "internal/") || b == "turso/tursotest" || b == "sync/synctest" {
				name = mod + b
			}
			if deps[name] {
				t.Errorf("%s imports %s", pkg, b)
			}
		}
	}
	// mapper is pure: none of its own imports does I/O or logs.
	out, err := exec.Command("go", "list", "-f", "{{join .Imports \" \"}}", mod+"mapper").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range strings.Fields(string(out)) {
		switch imp {
		case "net/http", "os", "database/sql", "log/slog", "time":
			t.Errorf("mapper imports %s", imp)
		}
	}
}
