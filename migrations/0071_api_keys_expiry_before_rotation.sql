-- Rotating a key cuts its expires_at to the end of the grace period, and the replacement got
-- the old key's expires_at: rotating the same key again during its grace gave the second
-- replacement what was left of the grace (a 30-day key's second replacement expired within the
-- day). A key now keeps, from its first rotation, when that was and when it expired before
-- (NULL: never); every replacement gets that expiry.
ALTER TABLE api_keys ADD COLUMN rotated_at timestamptz;
ALTER TABLE api_keys ADD COLUMN expires_at_before_rotation timestamptz;

-- Keys rotated before this migration. A key's first replacement was given the key's expiry as
-- it was then, and keeps it unless it was rotated in turn, in which case its own first
-- replacement holds it: follow first replacements to one never rotated.
WITH RECURSIVE first_replacement AS (
    SELECT DISTINCT ON (rotated_from) rotated_from AS key_id, id AS replacement_id, created_at
    FROM api_keys WHERE rotated_from IS NOT NULL
    ORDER BY rotated_from, id
), chain AS (
    SELECT key_id, replacement_id AS holder FROM first_replacement
    UNION ALL
    SELECT c.key_id, f.replacement_id FROM chain c JOIN first_replacement f ON f.key_id = c.holder
)
UPDATE api_keys k
SET rotated_at = f.created_at, expires_at_before_rotation = holder.expires_at
FROM first_replacement f, chain c, api_keys holder
WHERE f.key_id = k.id AND c.key_id = k.id AND holder.id = c.holder
  AND NOT EXISTS (SELECT 1 FROM first_replacement later WHERE later.key_id = c.holder);
