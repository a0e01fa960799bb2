-- +goose Up
-- The billing and account resources (issue 13). Entity tables with the
-- usual bookkeeping columns; each has its stage table (see 00003).

-- The Turso user who owns the token an account uses (GET /v1/user).
CREATE TABLE account_users (
    account_id          TEXT NOT NULL,
    id                  TEXT NOT NULL,            -- the username
    username            TEXT NOT NULL,
    name                TEXT NOT NULL,
    email               TEXT NOT NULL,
    plan                TEXT NOT NULL,
    mfa                 INTEGER NOT NULL,
    avatar_url          TEXT NOT NULL,
    has_pending_invites INTEGER NOT NULL,
    content_hash        TEXT NOT NULL,
    remote_data         TEXT NOT NULL,
    first_seen_at       TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT,
    deleted_reason      TEXT,
    PRIMARY KEY (account_id, id)
);

-- An org's subscription: one row per org; plan_since says since when the
-- org is on its plan.
CREATE TABLE subscriptions (
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    plan            TEXT NOT NULL,
    name            TEXT NOT NULL,
    timeline        TEXT NOT NULL,
    overages        INTEGER NOT NULL,
    plan_since      TEXT,
    content_hash    TEXT NOT NULL,
    remote_data     TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    deleted_reason  TEXT,
    PRIMARY KEY (account_id, organization_id)
);

-- The plans an org may be on, with their quotas (NULL: no quota given).
CREATE TABLE plans (
    account_id          TEXT NOT NULL,
    organization_id     TEXT NOT NULL,
    id                  TEXT NOT NULL,            -- the plan's name
    price               TEXT NOT NULL,
    prices              TEXT NOT NULL,            -- JSON array of {value, timeline}
    quota_rows_read     INTEGER,
    quota_rows_written  INTEGER,
    quota_databases     INTEGER,
    quota_locations     INTEGER,
    quota_storage_bytes INTEGER,
    quota_groups        INTEGER,
    quota_bytes_synced  INTEGER,
    content_hash        TEXT NOT NULL,
    remote_data         TEXT NOT NULL,
    first_seen_at       TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT,
    deleted_reason      TEXT,
    PRIMARY KEY (account_id, organization_id, id)
);

CREATE TABLE invoices (
    account_id         TEXT NOT NULL,
    organization_id    TEXT NOT NULL,
    id                 TEXT NOT NULL,             -- the invoice number
    amount_due         TEXT NOT NULL,             -- USD, as the API formats it
    due_date           TEXT NOT NULL,
    paid_at            TEXT NOT NULL,             -- '' while unpaid
    payment_failed_at  TEXT NOT NULL,
    paid               INTEGER NOT NULL,
    status             TEXT NOT NULL,
    invoice_pdf        TEXT NOT NULL,
    hosted_invoice_url TEXT NOT NULL,
    content_hash       TEXT NOT NULL,
    remote_data        TEXT NOT NULL,
    first_seen_at      TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted_at         TEXT,
    deleted_reason     TEXT,
    PRIMARY KEY (account_id, organization_id, id)
);

-- One database's configuration and instances, refreshed a budget of
-- databases per pass, least recently refreshed first (refreshed_at).
CREATE TABLE database_details (
    account_id          TEXT NOT NULL,
    organization_id     TEXT NOT NULL,
    id                  TEXT NOT NULL,            -- the database's DbId
    name                TEXT NOT NULL,
    size_limit          TEXT NOT NULL,
    allow_attach        INTEGER,
    block_reads         INTEGER NOT NULL,
    block_writes        INTEGER NOT NULL,
    delete_protection   INTEGER,
    allowed_ips         TEXT NOT NULL,            -- JSON array
    allowed_aws_vpc_ids TEXT NOT NULL,            -- JSON array
    instances           TEXT NOT NULL,            -- JSON array of {uuid, name, type, region, hostname}
    refreshed_at        TEXT,
    content_hash        TEXT NOT NULL,
    remote_data         TEXT NOT NULL,
    first_seen_at       TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT,
    deleted_reason      TEXT,
    PRIMARY KEY (account_id, organization_id, id)
);

-- The UUD's Organization.pricing_plan: the subscription's plan, set in the
-- commit that writes the subscription.
ALTER TABLE organizations ADD COLUMN pricing_plan TEXT;
ALTER TABLE stage_organizations ADD COLUMN pricing_plan TEXT;

CREATE TABLE stage_account_users AS SELECT * FROM account_users WHERE 0;
ALTER TABLE stage_account_users ADD COLUMN stage_id TEXT;
ALTER TABLE stage_account_users ADD COLUMN stage_op TEXT;
CREATE INDEX stage_account_users_id ON stage_account_users (stage_id);

CREATE TABLE stage_subscriptions AS SELECT * FROM subscriptions WHERE 0;
ALTER TABLE stage_subscriptions ADD COLUMN stage_id TEXT;
ALTER TABLE stage_subscriptions ADD COLUMN stage_op TEXT;
CREATE INDEX stage_subscriptions_id ON stage_subscriptions (stage_id);

CREATE TABLE stage_plans AS SELECT * FROM plans WHERE 0;
ALTER TABLE stage_plans ADD COLUMN stage_id TEXT;
ALTER TABLE stage_plans ADD COLUMN stage_op TEXT;
CREATE INDEX stage_plans_id ON stage_plans (stage_id);

CREATE TABLE stage_invoices AS SELECT * FROM invoices WHERE 0;
ALTER TABLE stage_invoices ADD COLUMN stage_id TEXT;
ALTER TABLE stage_invoices ADD COLUMN stage_op TEXT;
CREATE INDEX stage_invoices_id ON stage_invoices (stage_id);

CREATE TABLE stage_database_details AS SELECT * FROM database_details WHERE 0;
ALTER TABLE stage_database_details ADD COLUMN stage_id TEXT;
ALTER TABLE stage_database_details ADD COLUMN stage_op TEXT;
CREATE INDEX stage_database_details_id ON stage_database_details (stage_id);

-- The freshness of each live database's details: when they were last
-- refreshed (NULL: never), least recently refreshed first.
CREATE VIEW database_details_freshness AS
SELECT d.account_id, d.organization_id, d.id AS database_id, d.name AS database_name,
       dd.refreshed_at,
       CAST((julianday('now') - julianday(dd.refreshed_at)) * 86400 AS INTEGER) AS age_seconds
FROM databases d
LEFT JOIN database_details dd
  ON dd.account_id = d.account_id AND dd.organization_id = d.organization_id AND dd.id = d.id AND dd.deleted_at IS NULL
WHERE d.deleted_at IS NULL;

CREATE INDEX database_details_refreshed ON database_details (account_id, organization_id, refreshed_at);

-- Each live org's plan, the plan's database quota against the databases it
-- has, and what it owes: the UUD's Organization.pricing_plan and Billing.
CREATE VIEW organization_billing AS
SELECT o.account_id, o.id AS organization_id, o.pricing_plan, s.timeline, s.overages, s.plan_since,
       (SELECT count(*) FROM databases d WHERE d.account_id = o.account_id AND d.organization_id = o.id AND d.deleted_at IS NULL) AS databases,
       p.quota_databases,
       (SELECT count(*) FROM invoices i WHERE i.account_id = o.account_id AND i.organization_id = o.id AND i.deleted_at IS NULL AND i.paid = 0) AS unpaid_invoices,
       (SELECT round(coalesce(sum(CAST(i.amount_due AS REAL)), 0), 2) FROM invoices i
         WHERE i.account_id = o.account_id AND i.organization_id = o.id AND i.deleted_at IS NULL AND i.paid = 0) AS amount_unpaid
FROM organizations o
LEFT JOIN subscriptions s ON s.account_id = o.account_id AND s.organization_id = o.id AND s.deleted_at IS NULL
LEFT JOIN plans p ON p.account_id = o.account_id AND p.organization_id = o.id AND p.id = o.pricing_plan AND p.deleted_at IS NULL
WHERE o.deleted_at IS NULL;

-- +goose Down
DROP VIEW organization_billing;
DROP INDEX database_details_refreshed;
DROP VIEW database_details_freshness;
DROP TABLE stage_database_details;
DROP TABLE stage_invoices;
DROP TABLE stage_plans;
DROP TABLE stage_subscriptions;
DROP TABLE stage_account_users;
ALTER TABLE stage_organizations DROP COLUMN pricing_plan;
ALTER TABLE organizations DROP COLUMN pricing_plan;
DROP TABLE database_details;
DROP TABLE invoices;
DROP TABLE plans;
DROP TABLE subscriptions;
DROP TABLE account_users;
