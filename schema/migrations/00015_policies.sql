-- +goose Up
-- Policies (docs/policies.md): each evaluation of a policy for an account
-- records its outcome in policy_status, and each row its query returns is
-- a violation. A violation seen again keeps its row (first_seen_at stays,
-- last_seen_at moves); one no longer returned is resolved, not deleted;
-- one that comes back after that is a new row. A failed evaluation
-- resolves nothing.
CREATE TABLE policy_violations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    policy          TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    subject_type    TEXT NOT NULL,
    subject_id      TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    details         TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    resolved_at     TEXT
);
CREATE UNIQUE INDEX policy_violations_open ON policy_violations (policy, account_id, organization_id, subject_type, subject_id)
    WHERE resolved_at IS NULL;
CREATE INDEX policy_violations_policy ON policy_violations (policy, account_id, resolved_at);

CREATE TABLE policy_status (
    policy        TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    severity      TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    status        TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error         TEXT,
    evaluated_at  TEXT NOT NULL,
    last_ok_at    TEXT,
    open          INTEGER NOT NULL,
    opened        INTEGER NOT NULL,
    resolved      INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    PRIMARY KEY (policy, account_id)
);

-- The outbox of policy.violated and policy.resolved webhook events: an
-- evaluation writes one per violation it opens or resolves, in the same
-- transaction (none on a policy's first evaluation for an account, its
-- baseline).
CREATE TABLE policy_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('policy.violated', 'policy.resolved')),
    policy          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    subject_type    TEXT NOT NULL,
    subject_id      TEXT NOT NULL,
    details         TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX policy_events_account ON policy_events (account_id, id);

-- The live owners of each org, for owner_count: without it, counting an
-- org's owners reads every assignment of the org (0.8 s at 1,000,000
-- members).
CREATE INDEX role_assignments_owners ON role_assignments (account_id, organization_id)
    WHERE role_id = 'owner' AND status = 'active' AND deleted_at IS NULL;

-- Groups by name, as databases name theirs: database_outside_locations
-- joins each database to its group (25,000,000 rows read on the large org
-- without it).
CREATE INDEX groups_name ON "groups" (account_id, organization_id, name);

-- +goose Down
DROP INDEX groups_name;
DROP INDEX role_assignments_owners;
DROP TABLE policy_events;
DROP TABLE policy_status;
DROP TABLE policy_violations;
