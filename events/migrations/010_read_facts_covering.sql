-- Registers read from the index alone, and bounds kept per subject in a table of their own
-- (docs/READ_MODEL.md, "How a question is answered"). The read model is derived data: it is
-- emptied here and built again from the log by the first projector or question to find it so.
TRUNCATE read_facts, read_keys, read_subjects, read_hidden, read_restated;
UPDATE read_model SET rules = '', checkpoint = 0;

-- The belief columns, the version and the value in the index: the lookups of registers and
-- of folded events are index-only scans, and the belief filter runs on index tuples rather
-- than on the table's rows. It is then read_facts' only index, so no plan reads a
-- subject's rows in another order.
DROP INDEX read_facts_valid;
DROP INDEX read_facts_known;
CREATE INDEX read_facts_valid ON read_facts (subject, key, valid_from DESC, sequence DESC)
    INCLUDE (version, known_from, known_to, confidence, value);
ALTER TABLE read_facts DROP COLUMN bound;
-- A btree entry holds at most 2,704 bytes: a stance longer than queries.model_writes'
-- INDEXED_VALUE_BYTES is kept here, beside the index, and value is NULL.
ALTER TABLE read_facts ADD COLUMN long_value bytea;
ALTER TABLE read_keys DROP COLUMN bound;

-- A subject's bound from each sequence at which it grew: the greatest valid_from of its
-- register rows known by then. A question as known at K reads the latest at or before K,
-- once per subject rather than once per key.
CREATE TABLE read_bounds (
    subject    text COLLATE "C" NOT NULL,
    known_from bigint NOT NULL,
    bound      timestamptz NOT NULL,
    PRIMARY KEY (subject, known_from) INCLUDE (bound)
);
