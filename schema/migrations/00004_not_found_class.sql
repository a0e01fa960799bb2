-- +goose Up
-- A 404 (a misspelt or deleted org) gets its own error class, not_found,
-- instead of passing for a server fault. SQLite cannot change a CHECK
-- constraint in place: the table is rebuilt, and the view over it made
-- again.
DROP VIEW sync_health;
CREATE TABLE sync_scopes_new (
    run_id          INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    resource        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('complete', 'failed', 'unavailable', 'guarded')),
    error_class     TEXT CHECK (error_class IN ('auth', 'forbidden', 'plan', 'rate_limited', 'server', 'network', 'decode', 'mirror', 'not_found')),
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
INSERT INTO sync_scopes_new SELECT run_id, account_id, organization_id, resource, status, error_class, error, rows_created,
    rows_updated, rows_deleted, rows_unchanged, deletes_held, started_at, finished_at FROM sync_scopes;
DROP TABLE sync_scopes;
ALTER TABLE sync_scopes_new RENAME TO sync_scopes;
CREATE INDEX sync_scopes_scope ON sync_scopes (account_id, organization_id, resource, run_id);
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
UPDATE sync_scopes SET error_class = 'server' WHERE error_class = 'not_found';
DROP VIEW sync_health;
CREATE TABLE sync_scopes_old (
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
INSERT INTO sync_scopes_old SELECT * FROM sync_scopes;
DROP TABLE sync_scopes;
ALTER TABLE sync_scopes_old RENAME TO sync_scopes;
CREATE INDEX sync_scopes_scope ON sync_scopes (account_id, organization_id, resource, run_id);
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
