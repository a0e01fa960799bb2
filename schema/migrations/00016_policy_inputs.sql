-- +goose Up
-- What a policy's last evaluation judged (docs/policies.md, "When policies
-- run"): a hash of its statement and parameters, and the account's last
-- pass at the time. After a pass that wrote nothing, the daemon lets an
-- evaluation of the same definition stand for up to an hour instead of
-- running it again.
ALTER TABLE policy_status ADD COLUMN definition TEXT;
ALTER TABLE policy_status ADD COLUMN last_run_id INTEGER;

-- +goose Down
ALTER TABLE policy_status DROP COLUMN last_run_id;
ALTER TABLE policy_status DROP COLUMN definition;
