-- +goose Up
-- access_review.since says since when a user has held the role. The mirror
-- only knows when it first saw an assignment; for an assignment whose role
-- has not changed since then, the org's audit log knows better: the last
-- org-member-add event for the user at or before that first sighting (its
-- data is the POST /members body, {"username", "role"}). since_source says
-- which one since is:
--   audit_log    the org-member-add event's time
--   first_seen   when the mirror first saw the assignment (no audit event:
--                audit logs unavailable by plan, older than the backfill, or
--                the user joined through an invite)
--   role_change  when the mirror saw the role change to this one
DROP VIEW access_review;
CREATE VIEW access_review AS
SELECT x.account_id, x.organization_id, x.user_id, x.username, x.email, x.role_id, x.status,
       CASE WHEN x.added_at IS NOT NULL THEN x.added_at ELSE x.role_since END AS since,
       CASE WHEN x.added_at IS NOT NULL THEN 'audit_log'
            WHEN x.role_since = x.first_seen_at THEN 'first_seen'
            ELSE 'role_change' END AS since_source
FROM (
    SELECT ra.account_id, ra.organization_id, ra.user_id, u.username, u.email, ra.role_id, ra.status,
           ra.role_since, ra.first_seen_at,
           CASE WHEN ra.role_since = ra.first_seen_at THEN
               (SELECT max(a.created_at) FROM audit_logs a
                 WHERE a.account_id = ra.account_id AND a.organization_id = ra.organization_id
                   AND a.code = 'org-member-add' AND json_extract(a.data, '$.username') = u.username
                   AND a.created_at <= ra.first_seen_at)
           END AS added_at
    FROM role_assignments ra
    LEFT JOIN users u ON u.account_id = ra.account_id AND u.id = ra.user_id
    WHERE ra.deleted_at IS NULL
) x;

-- +goose Down
DROP VIEW access_review;
CREATE VIEW access_review AS
SELECT ra.account_id, ra.organization_id, ra.user_id, u.username, u.email,
       ra.role_id, ra.status, ra.role_since AS since
FROM role_assignments ra
LEFT JOIN users u ON u.account_id = ra.account_id AND u.id = ra.user_id
WHERE ra.deleted_at IS NULL;
