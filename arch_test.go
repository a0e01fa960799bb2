package tursync_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportArrows keeps the package graph of docs/style.md: cmd -> sync ->
// {turso, mapper, storage, metrics}, mapper -> {turso, schema}, storage -> schema,
// extract -> {turso, storage, schema}, webhook -> {storage, schema},
// lease -> storage;
// turso and storage never import each other, mapper does no I/O, nothing
// imports cmd.
func TestImportArrows(t *testing.T) {
	const mod = "github.com/tursync/tursync/"
	forbidden := map[string][]string{
		"turso":           {"storage", "schema", "mapper", "sync", "metrics", "cmd/tursync"},
		"turso/tursotest": {"storage", "schema", "mapper", "sync", "metrics", "cmd/tursync"},
		"schema":          {"turso", "storage", "mapper", "sync", "metrics", "cmd/tursync"},
		"mapper":          {"storage", "sync", "metrics", "cmd/tursync"},
		"storage":         {"turso", "mapper", "sync", "metrics", "lease", "cmd/tursync"},
		// Leases know the mirror only: every writer holds its own through it.
		"lease":   {"turso", "mapper", "sync", "metrics", "extract", "webhook", "cmd/tursync"},
		"metrics": {"turso", "storage", "mapper", "schema", "sync", "cmd/tursync"},
		"sync":    {"cmd/tursync"},
		"extract": {"mapper", "sync", "metrics", "cmd/tursync"},
		// Delivery reads the mirror and knows no Platform API.
		"webhook": {"turso", "mapper", "sync", "metrics", "extract", "cmd/tursync"},
		// The test helpers never reach the binary.
		"cmd/tursync": {"internal/sqldtest", "internal/testclock", "internal/testbin", "internal/webhooktest", "internal/testproc", "internal/testlong"},
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
			if !strings.Contains(b, "/") || strings.HasPrefix(b, "cmd/") || strings.HasPrefix(b, "internal/") || b == "turso/tursotest" {
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
