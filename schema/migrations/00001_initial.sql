-- +goose Up
-- Entity tables share the bookkeeping columns: content_hash (of the mapped
-- content and remote_data, so an unchanged row is never rewritten),
-- remote_data (the API object as received), first_seen_at, updated_at (last
-- real change), deleted_at and deleted_reason (the tombstone).

CREATE TABLE organizations (
    account_id      TEXT NOT NULL,
    id              TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    name            TEXT NOT NULL,
    type            TEXT NOT NULL,
    plan_id         TEXT NOT NULL,
    plan_timeline   TEXT NOT NULL,
    overages        INTEGER NOT NULL,
    require_mfa     INTEGER NOT NULL,
    blocked_reads   INTEGER NOT NULL,
    blocked_writes  INTEGER NOT NULL,
    platform        TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    remote_data     TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    deleted_reason  TEXT,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE users (
    account_id      TEXT NOT NULL,
    id              TEXT NOT NULL,
    username        TEXT NOT NULL,
    email           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'invited', 'inactive')),
    content_hash    TEXT NOT NULL,
    remote_data     TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    deleted_reason  TEXT,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX users_email ON users (account_id, email);

CREATE TABLE roles (
    account_id      TEXT NOT NULL,
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    remote_data     TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    deleted_reason  TEXT,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE role_assignments (
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    role_id         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'invited')),
    source          TEXT NOT NULL CHECK (source IN ('members', 'invites')),
    role_since      TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    remote_data     TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    deleted_reason  TEXT,
    PRIMARY KEY (account_id, organization_id, user_id)
);
CREATE INDEX role_assignments_user ON role_assignments (account_id, user_id);

CREATE TABLE invites (
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    id              TEXT NOT NULL,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    remote_data     TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    deleted_reason  TEXT,
    PRIMARY KEY (account_id, organization_id, id)
);

CREATE TABLE databases (
    account_id         TEXT NOT NULL,
    organization_id    TEXT NOT NULL,
    id                 TEXT NOT NULL,
    name               TEXT NOT NULL,
    hostname           TEXT NOT NULL,
    group_name         TEXT NOT NULL,
    primary_region     TEXT NOT NULL,
    regions            TEXT NOT NULL,
    block_reads        INTEGER NOT NULL,
    block_writes       INTEGER NOT NULL,
    delete_protection  INTEGER NOT NULL,
    parent_id          TEXT,
    parent_name        TEXT,
    parent_branched_at TEXT,
    type               TEXT NOT NULL,
    version            TEXT NOT NULL,
    is_schema          INTEGER NOT NULL,
    schema             TEXT NOT NULL,
    sleeping           INTEGER NOT NULL,
    archived           INTEGER NOT NULL,
    content_hash       TEXT NOT NULL,
    remote_data        TEXT NOT NULL,
    first_seen_at      TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted_at         TEXT,
    deleted_reason     TEXT,
    PRIMARY KEY (account_id, organization_id, id)
);

CREATE TABLE "groups" (
    account_id        TEXT NOT NULL,
    organization_id   TEXT NOT NULL,
    id                TEXT NOT NULL,
    name              TEXT NOT NULL,
    primary_location  TEXT NOT NULL,
    locations         TEXT NOT NULL,
    version           TEXT NOT NULL,
    delete_protection INTEGER NOT NULL,
    archived          INTEGER NOT NULL,
    content_hash      TEXT NOT NULL,
    remote_data       TEXT NOT NULL,
    first_seen_at     TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    deleted_at        TEXT,
    deleted_reason    TEXT,
    PRIMARY KEY (account_id, organization_id, id)
);

CREATE TABLE api_tokens (
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    group_name      TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    owner_username  TEXT NOT NULL,
    owner_email     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    remote_data     TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    deleted_reason  TEXT,
    PRIMARY KEY (account_id, organization_id, id)
);

-- Append-only: id is a hash of the event's content, so re-reading an
-- overlapping page absorbs duplicates.
CREATE TABLE audit_logs (
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    id              TEXT NOT NULL,
    code            TEXT NOT NULL,
    message         TEXT NOT NULL,
    origin          TEXT NOT NULL,
    author          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    data            TEXT NOT NULL,
    remote_data     TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    PRIMARY KEY (account_id, organization_id, id)
);
CREATE INDEX audit_logs_created ON audit_logs (account_id, organization_id, created_at);

-- A time series: one row per org (database_id = '') or database per UTC day,
-- the billing-cycle-to-date counters as last observed that day.
CREATE TABLE usage (
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    day             TEXT NOT NULL,
    database_id     TEXT NOT NULL,
    rows_read       INTEGER NOT NULL,
    rows_written    INTEGER NOT NULL,
    storage_bytes   INTEGER NOT NULL,
    bytes_synced    INTEGER NOT NULL,
    observed_at     TEXT NOT NULL,
    remote_data     TEXT NOT NULL,
    PRIMARY KEY (account_id, organization_id, day, database_id)
);

CREATE TABLE locations (
    code        TEXT NOT NULL PRIMARY KEY,
    description TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE sync_runs (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id           TEXT NOT NULL,
    trigger              TEXT NOT NULL,
    started_at           TEXT NOT NULL,
    finished_at          TEXT,
    status               TEXT NOT NULL,
    api_requests         INTEGER NOT NULL DEFAULT 0,
    api_retries          INTEGER NOT NULL DEFAULT 0,
    rate_limited_seconds REAL NOT NULL DEFAULT 0,
    rows_created         INTEGER NOT NULL DEFAULT 0,
    rows_updated         INTEGER NOT NULL DEFAULT 0,
    rows_deleted         INTEGER NOT NULL DEFAULT 0,
    rows_unchanged       INTEGER NOT NULL DEFAULT 0,
    error                TEXT
);
CREATE INDEX sync_runs_account ON sync_runs (account_id, id);

CREATE TABLE sync_scopes (
    run_id          INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    resource        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('complete', 'failed', 'unavailable', 'guarded')),
    error_class     TEXT CHECK (error_class IN ('auth', 'forbidden', 'plan', 'rate_limited', 'server', 'network', 'decode', 'mirror')),
    error           TEXT,
    rows_created    INTEGER NOT NULL DEFAULT 0,
    rows_updated    INTEGER NOT NULL DEFAULT 0,
    rows_deleted    INTEGER NOT NULL DEFAULT 0,
    rows_unchanged  INTEGER NOT NULL DEFAULT 0,
    deletes_held    INTEGER NOT NULL DEFAULT 0,
    started_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL,
    PRIMARY KEY (run_id, organization_id, resource)
);
CREATE INDEX sync_scopes_scope ON sync_scopes (account_id, organization_id, resource, run_id);

CREATE TABLE change_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    run_id          INTEGER NOT NULL,
    at              TEXT NOT NULL,
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    organization_id TEXT,
    op              TEXT NOT NULL CHECK (op IN ('created', 'updated', 'deleted', 'restored')),
    changes         TEXT NOT NULL
);
CREATE INDEX change_events_entity ON change_events (account_id, entity, entity_id);
CREATE INDEX change_events_run ON change_events (run_id);

CREATE VIEW access_review AS
SELECT ra.account_id, ra.organization_id, ra.user_id, u.username, u.email,
       ra.role_id, ra.status, ra.role_since AS since
FROM role_assignments ra
LEFT JOIN users u ON u.account_id = ra.account_id AND u.id = ra.user_id
WHERE ra.deleted_at IS NULL;

CREATE VIEW pending_invites AS
SELECT account_id, organization_id, email, role, created_at,
       CAST(julianday('now') - julianday(created_at) AS INTEGER) AS age_days
FROM invites
WHERE deleted_at IS NULL;

CREATE VIEW sync_health AS
SELECT s.account_id, s.organization_id, s.resource,
       (SELECT max(c.finished_at) FROM sync_scopes c
         WHERE c.account_id = s.account_id AND c.organization_id = s.organization_id
           AND c.resource = s.resource AND c.status IN ('complete', 'guarded')) AS last_complete_at,
       CAST((julianday('now') - julianday(
           (SELECT max(c.finished_at) FROM sync_scopes c
             WHERE c.account_id = s.account_id AND c.organization_id = s.organization_id
               AND c.resource = s.resource AND c.status IN ('complete', 'guarded')))) * 86400 AS INTEGER) AS age_seconds,
       s.status AS last_status,
       s.error_class AS last_error_class
FROM sync_scopes s
WHERE s.run_id = (SELECT max(l.run_id) FROM sync_scopes l
                   WHERE l.account_id = s.account_id AND l.organization_id = s.organization_id
                     AND l.resource = s.resource);

-- +goose Down
DROP VIEW sync_health;
DROP VIEW pending_invites;
DROP VIEW access_review;
DROP TABLE change_events;
DROP TABLE sync_scopes;
DROP TABLE sync_runs;
DROP TABLE locations;
DROP TABLE usage;
DROP TABLE audit_logs;
DROP TABLE api_tokens;
DROP TABLE "groups";
DROP TABLE databases;
DROP TABLE invites;
DROP TABLE role_assignments;
DROP TABLE roles;
DROP TABLE users;
DROP TABLE organizations;
