-- A subject's folded-event rows (key ''), beside its register rows: a page chooses how many
-- subjects to read at once by both, so that a page of subjects that fold many events reads
-- them a budget at a time (docs/READ_MODEL.md, "Pages"). Counted here once for a read model
-- built before; the projector keeps it from then on.
ALTER TABLE read_subjects ADD COLUMN folded bigint NOT NULL DEFAULT 0;
UPDATE read_subjects s SET folded = c.n
FROM (SELECT subject, count(*) AS n FROM read_facts WHERE key = '' GROUP BY subject) AS c
WHERE c.subject = s.subject;
