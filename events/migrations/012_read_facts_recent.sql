-- A busy subject's register rows in valid-time order, with what a register needs, so that
-- its registers at a time are read from the rows just before that time in one index-only
-- scan, not by a descent per key (docs/READ_MODEL.md, "How a question is answered"). Only
-- the rows of a subject flagged busy (`queries.model_writes.flag_busy`) are in it: a
-- subject with few rows per key is read by a scan of its rows and needs none of it.
ALTER TABLE read_subjects ADD COLUMN busy boolean NOT NULL DEFAULT false;
ALTER TABLE read_facts ADD COLUMN busy boolean NOT NULL DEFAULT false;
CREATE INDEX read_facts_recent ON read_facts (subject, valid_from DESC, sequence DESC)
    INCLUDE (key, version, known_from, known_to, confidence, value) WHERE busy AND key <> '';
