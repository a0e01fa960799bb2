-- +goose Up
-- When and by whom (schema.Attributions): a change event the audit log
-- explains carries the event's time and author; otherwise source stays
-- 'observed' and the three stay NULL. at remains the time the mirror saw
-- the change.
ALTER TABLE change_events ADD COLUMN happened_at TEXT;
ALTER TABLE change_events ADD COLUMN actor TEXT;
ALTER TABLE change_events ADD COLUMN source TEXT NOT NULL DEFAULT 'observed' CHECK (source IN ('observed', 'audit_log'));
ALTER TABLE change_events ADD COLUMN audit_log_id TEXT;

-- A tombstone of a history table carries the same, from its deleted event.
ALTER TABLE role_assignments ADD COLUMN deleted_happened_at TEXT;
ALTER TABLE role_assignments ADD COLUMN deleted_by TEXT;
ALTER TABLE invites ADD COLUMN deleted_happened_at TEXT;
ALTER TABLE invites ADD COLUMN deleted_by TEXT;
ALTER TABLE databases ADD COLUMN deleted_happened_at TEXT;
ALTER TABLE databases ADD COLUMN deleted_by TEXT;
ALTER TABLE "groups" ADD COLUMN deleted_happened_at TEXT;
ALTER TABLE "groups" ADD COLUMN deleted_by TEXT;
ALTER TABLE api_tokens ADD COLUMN deleted_happened_at TEXT;
ALTER TABLE api_tokens ADD COLUMN deleted_by TEXT;

-- The name an audit event gives its object, and the events of each
-- object by time: what the match looks up for each change. data that
-- SQLite cannot parse (nested deeper than its JSON limit) names none
-- rather than failing the write.
ALTER TABLE audit_logs ADD COLUMN object TEXT GENERATED ALWAYS AS (
    CASE WHEN json_valid(data) THEN coalesce(json_extract(data, '$.name'), json_extract(data, '$.username')) END) VIRTUAL;
CREATE INDEX audit_logs_object ON audit_logs (account_id, organization_id, object, created_at);

-- The past versions of the history tables' rows: a commit that changes or
-- tombstones a row first writes the version it ends, valid from the row's
-- last real change (updated_at) until the pass's time. The current
-- versions are the live rows themselves, so a first pass and an unchanged
-- pass write nothing here.
CREATE TABLE row_versions (
    account_id      TEXT NOT NULL,
    entity          TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    row_id          TEXT NOT NULL,
    valid_from      TEXT NOT NULL,
    valid_to        TEXT NOT NULL,
    ended_by        TEXT NOT NULL CHECK (ended_by IN ('changed', 'deleted')),
    content         TEXT NOT NULL
);
CREATE INDEX row_versions_row ON row_versions (account_id, entity, organization_id, row_id, valid_from);
CREATE INDEX row_versions_valid_to ON row_versions (valid_to);

-- Role assignments kept their history in change_events until now: their
-- closed versions move here, with the status and source the row has now.
INSERT INTO row_versions (account_id, entity, organization_id, row_id, valid_from, valid_to, ended_by, content)
SELECT h.account_id, 'role_assignments', h.organization_id, h.user_id, h.valid_from, h.valid_to,
       CASE WHEN r.deleted_at = h.valid_to THEN 'deleted' ELSE 'changed' END,
       json_object('role_id', h.role_id, 'status', r.status, 'source', r.source)
FROM role_assignment_history h
JOIN role_assignments r ON r.account_id = h.account_id AND r.organization_id = h.organization_id AND r.user_id = h.user_id
WHERE h.valid_to IS NOT NULL;
DROP VIEW role_assignment_history;

-- Each history table's history: closed versions, then the live rows
-- (schema.HistoryViewSQL writes them). "Who was an admin of org X at T" is
-- WHERE valid_from <= T AND (valid_to IS NULL OR valid_to > T).
CREATE VIEW role_assignment_history AS
SELECT account_id, organization_id, row_id AS user_id,
       json_extract(content, '$.role_id') AS role_id,
       json_extract(content, '$.status') AS status,
       json_extract(content, '$.source') AS source,
       valid_from, valid_to, ended_by
FROM row_versions WHERE entity = 'role_assignments'
UNION ALL
SELECT account_id, organization_id, user_id, role_id, status, source, updated_at, NULL, NULL
FROM "role_assignments" WHERE deleted_at IS NULL;

CREATE VIEW invite_history AS
SELECT account_id, organization_id, row_id AS id,
       json_extract(content, '$.email') AS email,
       json_extract(content, '$.role') AS role,
       json_extract(content, '$.created_at') AS created_at,
       valid_from, valid_to, ended_by
FROM row_versions WHERE entity = 'invites'
UNION ALL
SELECT account_id, organization_id, id, email, role, created_at, updated_at, NULL, NULL
FROM "invites" WHERE deleted_at IS NULL;

CREATE VIEW database_history AS
SELECT account_id, organization_id, row_id AS id,
       json_extract(content, '$.name') AS name,
       json_extract(content, '$.hostname') AS hostname,
       json_extract(content, '$.group_name') AS group_name,
       json_extract(content, '$.primary_region') AS primary_region,
       json_extract(content, '$.regions') AS regions,
       json_extract(content, '$.block_reads') AS block_reads,
       json_extract(content, '$.block_writes') AS block_writes,
       json_extract(content, '$.delete_protection') AS delete_protection,
       json_extract(content, '$.parent_id') AS parent_id,
       json_extract(content, '$.parent_name') AS parent_name,
       json_extract(content, '$.parent_branched_at') AS parent_branched_at,
       json_extract(content, '$.type') AS type,
       json_extract(content, '$.version') AS version,
       json_extract(content, '$.is_schema') AS is_schema,
       json_extract(content, '$.schema') AS schema,
       json_extract(content, '$.sleeping') AS sleeping,
       json_extract(content, '$.archived') AS archived,
       valid_from, valid_to, ended_by
FROM row_versions WHERE entity = 'databases'
UNION ALL
SELECT account_id, organization_id, id, name, hostname, group_name, primary_region, regions, block_reads, block_writes, delete_protection, parent_id, parent_name, parent_branched_at, type, version, is_schema, schema, sleeping, archived, updated_at, NULL, NULL
FROM "databases" WHERE deleted_at IS NULL;

CREATE VIEW group_history AS
SELECT account_id, organization_id, row_id AS id,
       json_extract(content, '$.name') AS name,
       json_extract(content, '$.primary_location') AS primary_location,
       json_extract(content, '$.locations') AS locations,
       json_extract(content, '$.version') AS version,
       json_extract(content, '$.delete_protection') AS delete_protection,
       json_extract(content, '$.archived') AS archived,
       valid_from, valid_to, ended_by
FROM row_versions WHERE entity = 'groups'
UNION ALL
SELECT account_id, organization_id, id, name, primary_location, locations, version, delete_protection, archived, updated_at, NULL, NULL
FROM "groups" WHERE deleted_at IS NULL;

CREATE VIEW api_token_history AS
SELECT account_id, organization_id, row_id AS id,
       json_extract(content, '$.name') AS name,
       json_extract(content, '$.group_name') AS group_name,
       json_extract(content, '$.scopes') AS scopes,
       json_extract(content, '$.owner_username') AS owner_username,
       json_extract(content, '$.owner_email') AS owner_email,
       json_extract(content, '$.created_at') AS created_at,
       valid_from, valid_to, ended_by
FROM row_versions WHERE entity = 'api_tokens'
UNION ALL
SELECT account_id, organization_id, id, name, group_name, scopes, owner_username, owner_email, created_at, updated_at, NULL, NULL
FROM "api_tokens" WHERE deleted_at IS NULL;

-- +goose Down
DROP VIEW api_token_history;
DROP VIEW group_history;
DROP VIEW database_history;
DROP VIEW invite_history;
DROP VIEW role_assignment_history;
DROP TABLE row_versions;
DROP INDEX audit_logs_object;
ALTER TABLE audit_logs DROP COLUMN object;
ALTER TABLE api_tokens DROP COLUMN deleted_by;
ALTER TABLE api_tokens DROP COLUMN deleted_happened_at;
ALTER TABLE "groups" DROP COLUMN deleted_by;
ALTER TABLE "groups" DROP COLUMN deleted_happened_at;
ALTER TABLE databases DROP COLUMN deleted_by;
ALTER TABLE databases DROP COLUMN deleted_happened_at;
ALTER TABLE invites DROP COLUMN deleted_by;
ALTER TABLE invites DROP COLUMN deleted_happened_at;
ALTER TABLE role_assignments DROP COLUMN deleted_by;
ALTER TABLE role_assignments DROP COLUMN deleted_happened_at;
ALTER TABLE change_events DROP COLUMN audit_log_id;
ALTER TABLE change_events DROP COLUMN source;
ALTER TABLE change_events DROP COLUMN actor;
ALTER TABLE change_events DROP COLUMN happened_at;
