-- +goose Up
-- Who held which role in which org, and when: one row per version of an
-- assignment, valid from valid_from until valid_to (NULL while current).
-- Built from role_assignments and their change_events: an assignment the
-- first pass found is valid from first_seen_at with the role it had then
-- (the old value of its first role change, or its role now); every later
-- creation, role change and restore starts a version, and every change,
-- tombstone and restore ends the one before. "Who was an admin of org X
-- at T" is WHERE valid_from <= T AND (valid_to IS NULL OR valid_to > T).
-- Its reach is change_events' retention: before the oldest kept event an
-- assignment shows the role it had just before that event.
CREATE VIEW role_assignment_history AS
WITH ev AS (
    SELECT c.id, c.account_id, c.organization_id, c.entity_id, c.at, c.op,
           json_extract(c.changes, '$.role_id.new') AS new_role
    FROM change_events c
    WHERE c.entity = 'role_assignments'
      AND (c.op IN ('created', 'restored', 'deleted') OR json_extract(c.changes, '$.role_id') IS NOT NULL)
),
ra AS (
    SELECT r.account_id, r.organization_id, r.user_id, r.organization_id || '/' || r.user_id AS entity_id, r.first_seen_at,
           coalesce((SELECT json_extract(c.changes, '$.role_id.old') FROM change_events c
                      WHERE c.account_id = r.account_id AND c.entity = 'role_assignments'
                        AND c.entity_id = r.organization_id || '/' || r.user_id
                        AND json_extract(c.changes, '$.role_id') IS NOT NULL
                      ORDER BY c.id LIMIT 1), r.role_id) AS first_role
    FROM role_assignments r
),
starts AS (
    SELECT ra.account_id, ra.organization_id, ra.user_id, ra.entity_id, 0 AS id, ra.first_seen_at AS at, ra.first_role AS role_id
    FROM ra
    WHERE NOT EXISTS (SELECT 1 FROM ev WHERE ev.account_id = ra.account_id AND ev.entity_id = ra.entity_id AND ev.op = 'created')
    UNION ALL
    SELECT ra.account_id, ra.organization_id, ra.user_id, ra.entity_id, ev.id, ev.at,
           coalesce((SELECT e2.new_role FROM ev e2
                      WHERE e2.account_id = ev.account_id AND e2.entity_id = ev.entity_id AND e2.id <= ev.id AND e2.new_role IS NOT NULL
                      ORDER BY e2.id DESC LIMIT 1), ra.first_role)
    FROM ev JOIN ra ON ra.account_id = ev.account_id AND ra.entity_id = ev.entity_id
    WHERE ev.op <> 'deleted'
)
SELECT s.account_id, s.organization_id, s.user_id, s.role_id, s.at AS valid_from,
       (SELECT min(e.at) FROM ev e WHERE e.account_id = s.account_id AND e.entity_id = s.entity_id AND e.id > s.id) AS valid_to
FROM starts s;

-- +goose Down
DROP VIEW role_assignment_history;
