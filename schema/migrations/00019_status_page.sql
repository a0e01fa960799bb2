-- +goose Up
-- What the status page reads at every load, kept ready for a fleet of a
-- thousand accounts (docs/PERFORMANCE.md, "The status page").

-- Each scope's latest outcome, one row per (account, org, resource): a
-- trigger keeps it as passes record scopes, so /status reads 34,000 rows
-- at a thousand accounts instead of finding the latest of each among
-- every pass's scopes; retention's pruning of old scopes leaves it.
CREATE TABLE scope_state (
    account_id       TEXT NOT NULL,
    organization_id  TEXT NOT NULL,
    resource         TEXT NOT NULL,
    run_id           INTEGER NOT NULL,
    status           TEXT NOT NULL,
    error_class      TEXT,
    error            TEXT,
    deletes_held     INTEGER NOT NULL,
    last_complete_at TEXT,
    last_attempt_at  TEXT NOT NULL,
    PRIMARY KEY (account_id, organization_id, resource)
);

INSERT INTO scope_state (account_id, organization_id, resource, run_id, status, error_class, error, deletes_held, last_complete_at, last_attempt_at)
SELECT s.account_id, s.organization_id, s.resource, s.run_id, s.status, s.error_class, s.error, s.deletes_held,
       (SELECT max(c.finished_at) FROM sync_scopes c WHERE c.account_id = s.account_id AND c.organization_id = s.organization_id
          AND c.resource = s.resource AND c.status IN ('complete', 'guarded')),
       s.finished_at
FROM sync_scopes s
WHERE s.run_id = (SELECT max(l.run_id) FROM sync_scopes l
                  WHERE l.account_id = s.account_id AND l.organization_id = s.organization_id AND l.resource = s.resource);

-- +goose StatementBegin
CREATE TRIGGER sync_scopes_state AFTER INSERT ON sync_scopes BEGIN
    INSERT INTO scope_state (account_id, organization_id, resource, run_id, status, error_class, error, deletes_held, last_complete_at, last_attempt_at)
    VALUES (NEW.account_id, NEW.organization_id, NEW.resource, NEW.run_id, NEW.status, NEW.error_class, NEW.error, NEW.deletes_held,
            CASE WHEN NEW.status IN ('complete', 'guarded') THEN NEW.finished_at END, NEW.finished_at)
    ON CONFLICT (account_id, organization_id, resource) DO UPDATE SET
        run_id = excluded.run_id, status = excluded.status, error_class = excluded.error_class, error = excluded.error,
        deletes_held = excluded.deletes_held, last_complete_at = coalesce(excluded.last_complete_at, scope_state.last_complete_at),
        last_attempt_at = excluded.last_attempt_at
    WHERE excluded.run_id >= scope_state.run_id;
END;
-- +goose StatementEnd

-- The finished passes of each account per hour they started in, summed
-- for the status page's 24-hour charts: kept by a trigger as passes end (a
-- pass's run is inserted running and updated once it ends), pruned with
-- sync_runs.
CREATE TABLE run_hours (
    account_id      TEXT NOT NULL,
    hour            TEXT NOT NULL, -- 2026-12-07T05: started_at to the hour
    passes          INTEGER NOT NULL,
    longest_seconds INTEGER NOT NULL,
    rows_changed    INTEGER NOT NULL,
    api_requests    INTEGER NOT NULL,
    PRIMARY KEY (hour, account_id)
);

INSERT INTO run_hours (account_id, hour, passes, longest_seconds, rows_changed, api_requests)
SELECT account_id, substr(started_at, 1, 13), count(*), max(unixepoch(finished_at) - unixepoch(started_at)),
       sum(rows_created + rows_updated + rows_deleted), sum(api_requests)
FROM sync_runs WHERE finished_at IS NOT NULL GROUP BY account_id, substr(started_at, 1, 13);

-- +goose StatementBegin
CREATE TRIGGER sync_runs_hours_finish AFTER UPDATE OF finished_at ON sync_runs
WHEN OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL BEGIN
    INSERT INTO run_hours (account_id, hour, passes, longest_seconds, rows_changed, api_requests)
    VALUES (NEW.account_id, substr(NEW.started_at, 1, 13), 1, unixepoch(NEW.finished_at) - unixepoch(NEW.started_at),
            NEW.rows_created + NEW.rows_updated + NEW.rows_deleted, NEW.api_requests)
    ON CONFLICT (hour, account_id) DO UPDATE SET passes = passes + 1, longest_seconds = max(longest_seconds, excluded.longest_seconds),
        rows_changed = rows_changed + excluded.rows_changed, api_requests = api_requests + excluded.api_requests;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER sync_runs_hours_finish;
DROP TABLE run_hours;
DROP TRIGGER sync_scopes_state;
DROP TABLE scope_state;
