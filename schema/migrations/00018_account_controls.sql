-- +goose Up
-- What operators set on an account (docs/control.md), through the control
-- API or `tursync accounts`: a paused account is skipped by every
-- daemon's schedule until resumed; a sync request is claimed by one
-- daemon that schedules the account, which runs a pass at once and
-- records its run.
CREATE TABLE account_controls (
    account_id        TEXT PRIMARY KEY,
    paused            INTEGER NOT NULL DEFAULT 0,
    paused_at         TEXT,
    paused_by         TEXT,
    sync_requested_at TEXT,
    sync_requested_by TEXT,
    sync_claimed_at   TEXT,
    sync_run_id       INTEGER
);

-- +goose Down
DROP TABLE account_controls;
