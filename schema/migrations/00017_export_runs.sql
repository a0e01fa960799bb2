-- +goose Up
-- Every run of an export (docs/exports.md), by the daemon or tursync
-- export: how it ended, and the change event the target held after it. A
-- failed run is what the webhooks' export.failed event carries.
CREATE TABLE export_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    export      TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error_class TEXT,
    error       TEXT,
    rows        INTEGER NOT NULL,
    cursor      INTEGER NOT NULL
);
CREATE INDEX export_runs_export ON export_runs (export, id);

-- +goose Down
DROP TABLE export_runs;
