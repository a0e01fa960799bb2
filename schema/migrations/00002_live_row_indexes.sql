-- +goose Up
-- Partial indexes over the live rows of each org: the writer counts an
-- org's live rows on every pass (to skip the tombstone scan when nothing is
-- missing), and analysts filter on deleted_at IS NULL all the time.
CREATE INDEX databases_live ON databases (account_id, organization_id) WHERE deleted_at IS NULL;
CREATE INDEX invites_live ON invites (account_id, organization_id) WHERE deleted_at IS NULL;
CREATE INDEX groups_live ON "groups" (account_id, organization_id) WHERE deleted_at IS NULL;
CREATE INDEX api_tokens_live ON api_tokens (account_id, organization_id) WHERE deleted_at IS NULL;

-- +goose Down
DROP INDEX api_tokens_live;
DROP INDEX groups_live;
DROP INDEX invites_live;
DROP INDEX databases_live;
