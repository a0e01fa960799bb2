-- +goose Up
-- Webhook delivery (issue 14). change_events is the outbox: its ids grow in
-- commit order (one writer at a time), so a cursor per (endpoint, account)
-- says what was delivered. The cursor moves only after a 2xx, so a crash
-- re-delivers at most the batch in flight, never skips one.
CREATE TABLE webhook_cursors (
    endpoint      TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    last_event_id INTEGER NOT NULL,           -- the last change_events.id delivered (or skipped as dead)
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (endpoint, account_id)
);

-- Every attempt to deliver a batch: its events, the answer, and when the
-- next attempt is due. A batch older than max_age is 'dead' and the cursor
-- moves past it (tursync webhooks replay sends it again).
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint         TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    webhook_id       TEXT NOT NULL,           -- the webhook-id header: the same for every attempt of a batch
    first_event_id   INTEGER NOT NULL,
    last_event_id    INTEGER NOT NULL,
    events           INTEGER NOT NULL,
    attempt          INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('delivered', 'failed', 'dead')),
    status_code      INTEGER,
    error            TEXT,
    first_attempt_at TEXT NOT NULL,
    at               TEXT NOT NULL,
    next_retry_at    TEXT
);
CREATE INDEX webhook_deliveries_batch ON webhook_deliveries (endpoint, account_id, first_event_id, id);

-- The cursor's read: an account's events after an id.
CREATE INDEX change_events_account ON change_events (account_id, id);

-- +goose Down
DROP INDEX change_events_account;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_cursors;
