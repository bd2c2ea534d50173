-- The retractions and corrections naming an event (set-based checks in the append path).
CREATE INDEX events_target ON events (target) WHERE target IS NOT NULL;

-- Every retraction and correction of one target concerns every subject that the target or
-- any of them concerns (a correction adding a subject to its replacement data used to
-- leave that subject out of the later retractions and corrections of the same target, and
-- the earlier ones). Logs written before this rule get the missing event_concerns rows
-- here (rows only: the hashed event is not touched), and the snapshots of the subjects
-- that gained rows, folded without them, are dropped (a cache: rebuilt on demand).
WITH family AS (
    SELECT DISTINCT f.target, unnest(f.concerns) AS subject
    FROM events f WHERE f.target IS NOT NULL
), added AS (
    INSERT INTO event_concerns (subject, valid_from, sequence, meta)
    SELECT DISTINCT family.subject, m.valid_from, m.sequence, true
    FROM events m JOIN family ON family.target = m.target
    WHERE m.target IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING subject
)
DELETE FROM snapshots WHERE subject IN (SELECT subject FROM added);
