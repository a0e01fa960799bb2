package storage_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/tursodatabase/libsql-client-go/libsql"

	"github.com/tursync/tursync/internal/testmirror"
	"github.com/tursync/tursync/schema"
	"github.com/tursync/tursync/storage"
)

// A mirror made before row_versions (migration 13) kept role history in
// change_events alone: the upgrade moves it, and role_assignment_history
// answers as it did.
func TestRoleHistorySurvivesTheUpgrade(t *testing.T) {
	testmirror.FileOnly(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	conn, err := libsql.NewConnector("file:" + path)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	prov, err := goose.NewProvider(goose.DialectSQLite3, db, schema.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.UpTo(ctx, 13); err != nil {
		t.Fatal(err)
	}
	// u1: member from 10:00, viewer from 11:00. u2: admin from 10:00,
	// removed at 11:30.
	for _, q := range []string{
		`INSERT INTO role_assignments (account_id, organization_id, user_id, role_id, status, source, role_since, content_hash, remote_data, first_seen_at, updated_at, deleted_at, deleted_reason)
		 VALUES ('a', 'o', 'u1', 'viewer', 'active', 'members', '2026-11-01T11:00:00Z', 'h', '{}', '2026-11-01T10:00:00Z', '2026-11-01T11:00:00Z', NULL, NULL),
		        ('a', 'o', 'u2', 'admin', 'active', 'members', '2026-11-01T10:00:00Z', 'h', '{}', '2026-11-01T10:00:00Z', '2026-11-01T11:30:00Z', '2026-11-01T11:30:00Z', 'removed')`,
		`INSERT INTO change_events (account_id, run_id, at, entity, entity_id, organization_id, op, changes)
		 VALUES ('a', 2, '2026-11-01T11:00:00Z', 'role_assignments', 'o/u1', 'o', 'updated', '{"role_id":{"old":"member","new":"viewer"}}'),
		        ('a', 3, '2026-11-01T11:30:00Z', 'role_assignments', 'o/u2', 'o', 'deleted', '{"deleted_reason":{"old":null,"new":"removed"}}')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	m := testmirror.OpenURL(t, "file:"+path, storage.Options{})
	roles := func(at string) string {
		var s string
		if err := m.DB().QueryRow(`SELECT coalesce(group_concat(user_id || '=' || role_id, ' '), '') FROM (SELECT user_id, role_id FROM role_assignment_history
			WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?) ORDER BY user_id)`, at, at).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for at, want := range map[string]string{
		"2026-11-01T09:30:00Z": "",
		"2026-11-01T10:30:00Z": "u1=member u2=admin",
		"2026-11-01T11:15:00Z": "u1=viewer u2=admin",
		"2026-11-01T11:45:00Z": "u1=viewer",
	} {
		if got := roles(at); got != want {
			t.Errorf("roles at %s after the upgrade: %q, want %q", at, got, want)
		}
	}
}
