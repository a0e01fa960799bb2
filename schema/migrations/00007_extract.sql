-- +goose Up
-- Cross-tenant extraction (docs/extract.md).

-- One row per run of one query over its databases.
CREATE TABLE extract_runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    query             TEXT NOT NULL,
    trigger           TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    finished_at       TEXT,
    status            TEXT NOT NULL,          -- running | ok | partial | failed | aborted
    databases_ok      INTEGER NOT NULL DEFAULT 0,
    databases_failed  INTEGER NOT NULL DEFAULT 0,
    databases_skipped INTEGER NOT NULL DEFAULT 0,
    rows              INTEGER NOT NULL DEFAULT 0,
    error             TEXT
);
CREATE INDEX extract_runs_query ON extract_runs (query, id);

-- The latest successful snapshot of each (query, database), replaced in one
-- transaction per database.
CREATE TABLE extract_results (
    query           TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    database_id     TEXT NOT NULL,
    database_name   TEXT NOT NULL,
    run_id          INTEGER NOT NULL,
    row_number      INTEGER NOT NULL,
    data            TEXT NOT NULL,            -- the row as a JSON object
    extracted_at    TEXT NOT NULL,
    PRIMARY KEY (query, account_id, database_id, row_number)
) WITHOUT ROWID; -- rows live in the primary key's order: one b-tree, not a table and an index

-- One row per (query, database): how its last attempt went.
CREATE TABLE extract_status (
    query           TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    database_id     TEXT NOT NULL,
    database_name   TEXT NOT NULL,
    run_id          INTEGER NOT NULL,
    status          TEXT NOT NULL,            -- ok | failed | skipped
    error_class     TEXT,                     -- timeout | auth | sql | network | too_many_rows
    error           TEXT,
    rows            INTEGER NOT NULL DEFAULT 0,
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    last_success_at TEXT,
    at              TEXT NOT NULL,
    PRIMARY KEY (query, account_id, database_id)
);

-- The columns each query's view extract_<name> exposes, so the view is
-- rebuilt only when the statement's columns change.
CREATE TABLE extract_views (
    query      TEXT PRIMARY KEY,
    columns    TEXT NOT NULL,                 -- JSON array of column names
    updated_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE extract_views;
DROP TABLE extract_status;
DROP TABLE extract_results;
DROP TABLE extract_runs;
