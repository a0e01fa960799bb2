-- +goose Up
-- When the account's token expires, as the run's validation read it (NULL
-- when the run did not validate it): the source of token.expiring webhooks.
ALTER TABLE sync_runs ADD COLUMN token_expires_at TEXT;

-- +goose Down
ALTER TABLE sync_runs DROP COLUMN token_expires_at;
