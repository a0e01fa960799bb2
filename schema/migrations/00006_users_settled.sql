-- +goose Up
-- users_settled is 1 when the run's user settlement left no user unsettled
-- (every org of every user had its members and invites scopes complete).
-- A later run that writes no user and no role assignment finds every status
-- as that settlement left it, and skips the account-wide settlement query
-- (4 s for a million users) when the run before it has users_settled = 1.
ALTER TABLE sync_runs ADD COLUMN users_settled INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sync_runs DROP COLUMN users_settled;
