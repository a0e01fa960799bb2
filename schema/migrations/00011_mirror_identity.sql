-- +goose Up
-- The mirror's identity: one random id written when the mirror is created.
-- A daemon reads it at start and checks it before every pass, so a mirror
-- database replaced under it (restored, recreated, another namespace behind
-- the same URL) stops the writes instead of mixing two mirrors' rows.
CREATE TABLE mirror_identity (
    id         TEXT NOT NULL,
    created_at TEXT NOT NULL
);
INSERT INTO mirror_identity (id, created_at) VALUES (lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

-- +goose Down
DROP TABLE mirror_identity;
