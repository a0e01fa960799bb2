-- +goose Up
-- Stage tables: an org pass writes its new and changed rows here in many
-- short statements, then one short transaction copies them into the real
-- tables with server-side INSERT ... SELECT and UPDATE ... FROM. A libSQL
-- server (sqld, Turso Cloud) rolls back a write transaction that holds the
-- lock for more than a few seconds while another writer waits, so the org's
-- transaction must never carry the rows over the wire itself. Each stage
-- table has the columns of its table, without constraints, plus stage_id (one
-- per scope of a pass) and stage_op (new or changed). Rows are removed right
-- after the commit that applies them, and a crashed pass's leftovers when its
-- account's lease is next taken. A migration that adds a column to a table adds it to
-- the stage table too. Analysts can ignore every stage_ table.
CREATE TABLE stage_organizations AS SELECT * FROM organizations WHERE 0;
ALTER TABLE stage_organizations ADD COLUMN stage_id TEXT;
ALTER TABLE stage_organizations ADD COLUMN stage_op TEXT;
CREATE INDEX stage_organizations_id ON stage_organizations (stage_id);

CREATE TABLE stage_users AS SELECT * FROM users WHERE 0;
ALTER TABLE stage_users ADD COLUMN stage_id TEXT;
ALTER TABLE stage_users ADD COLUMN stage_op TEXT;
CREATE INDEX stage_users_id ON stage_users (stage_id);

CREATE TABLE stage_roles AS SELECT * FROM roles WHERE 0;
ALTER TABLE stage_roles ADD COLUMN stage_id TEXT;
ALTER TABLE stage_roles ADD COLUMN stage_op TEXT;
CREATE INDEX stage_roles_id ON stage_roles (stage_id);

CREATE TABLE stage_role_assignments AS SELECT * FROM role_assignments WHERE 0;
ALTER TABLE stage_role_assignments ADD COLUMN stage_id TEXT;
ALTER TABLE stage_role_assignments ADD COLUMN stage_op TEXT;
CREATE INDEX stage_role_assignments_id ON stage_role_assignments (stage_id);

CREATE TABLE stage_invites AS SELECT * FROM invites WHERE 0;
ALTER TABLE stage_invites ADD COLUMN stage_id TEXT;
ALTER TABLE stage_invites ADD COLUMN stage_op TEXT;
CREATE INDEX stage_invites_id ON stage_invites (stage_id);

CREATE TABLE stage_databases AS SELECT * FROM databases WHERE 0;
ALTER TABLE stage_databases ADD COLUMN stage_id TEXT;
ALTER TABLE stage_databases ADD COLUMN stage_op TEXT;
CREATE INDEX stage_databases_id ON stage_databases (stage_id);

CREATE TABLE stage_groups AS SELECT * FROM "groups" WHERE 0;
ALTER TABLE stage_groups ADD COLUMN stage_id TEXT;
ALTER TABLE stage_groups ADD COLUMN stage_op TEXT;
CREATE INDEX stage_groups_id ON stage_groups (stage_id);

CREATE TABLE stage_api_tokens AS SELECT * FROM api_tokens WHERE 0;
ALTER TABLE stage_api_tokens ADD COLUMN stage_id TEXT;
ALTER TABLE stage_api_tokens ADD COLUMN stage_op TEXT;
CREATE INDEX stage_api_tokens_id ON stage_api_tokens (stage_id);

CREATE TABLE stage_audit_logs AS SELECT * FROM audit_logs WHERE 0;
ALTER TABLE stage_audit_logs ADD COLUMN stage_id TEXT;
ALTER TABLE stage_audit_logs ADD COLUMN stage_op TEXT;
CREATE INDEX stage_audit_logs_id ON stage_audit_logs (stage_id);

CREATE TABLE stage_usage AS SELECT * FROM usage WHERE 0;
ALTER TABLE stage_usage ADD COLUMN stage_id TEXT;
ALTER TABLE stage_usage ADD COLUMN stage_op TEXT;
CREATE INDEX stage_usage_id ON stage_usage (stage_id);

-- Change events wait here in the order the pass made them (seq).
CREATE TABLE stage_change_events (
    stage_id        TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    account_id      TEXT NOT NULL,
    run_id          INTEGER NOT NULL,
    at              TEXT NOT NULL,
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    organization_id TEXT,
    op              TEXT NOT NULL,
    changes         TEXT NOT NULL
);
CREATE INDEX stage_change_events_id ON stage_change_events (stage_id, seq);

-- The keys of rows a scope tombstones (k2 is '' for one-column keys).
CREATE TABLE stage_keys (
    stage_id   TEXT NOT NULL,
    account_id TEXT NOT NULL,
    k1         TEXT NOT NULL,
    k2         TEXT NOT NULL
);
CREATE INDEX stage_keys_id ON stage_keys (stage_id);

-- One writer per account across processes. A pass takes its account's lease
-- before it writes, renews it while it runs and expires it when done; a
-- lease whose owner died expires at expires_at. generation grows with every
-- new holder, so a paused process that lost its lease cannot commit.
CREATE TABLE leases (
    account_id  TEXT NOT NULL PRIMARY KEY,
    owner       TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

-- The fence: every org commit first writes held = 1 if, and only if, the
-- lease is still its own (same owner and generation); otherwise the CHECK
-- fails and the commit with it.
CREATE TABLE lease_fence (
    account_id TEXT NOT NULL PRIMARY KEY,
    held       INTEGER NOT NULL CONSTRAINT lease_lost CHECK (held = 1)
);

-- +goose Down
DROP TABLE lease_fence;
DROP TABLE leases;
DROP TABLE stage_keys;
DROP TABLE stage_change_events;
DROP TABLE stage_usage;
DROP TABLE stage_audit_logs;
DROP TABLE stage_api_tokens;
DROP TABLE stage_groups;
DROP TABLE stage_databases;
DROP TABLE stage_invites;
DROP TABLE stage_role_assignments;
DROP TABLE stage_roles;
DROP TABLE stage_users;
DROP TABLE stage_organizations;
