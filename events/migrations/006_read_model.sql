-- The bitemporal read model (docs/READ_MODEL.md): derived from the log by queries/projector.py,
-- rebuilt from it whenever the rules change. The snapshot cache it replaces goes.
DROP TABLE IF EXISTS snapshots;

CREATE TABLE read_model (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    rules      text   NOT NULL,
    checkpoint bigint NOT NULL
);
INSERT INTO read_model (rules, checkpoint) VALUES ('', 0);

-- One row per fact a version of an event asserts about a subject, for one interval of
-- transaction time (in sequence numbers) in which that version is believed.
CREATE TABLE read_facts (
    subject    text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,   -- '' = folded in order; else a register
    valid_from timestamptz NOT NULL,        -- the version's valid time
    sequence   bigint NOT NULL,             -- the event's own sequence (ties, identity)
    version    bigint NOT NULL,             -- the event's or its correction's sequence
    known_from bigint NOT NULL,             -- believed from this sequence ...
    known_to   bigint,                      -- ... until this one (NULL: still believed)
    confidence smallint NOT NULL,           -- CONFIDENCE_RANK of the version
    bound      timestamptz NOT NULL,        -- max valid_from of the key's rows known by known_from
    value      bytea                        -- a register's value (its stance, JSON); NULL for ''
);
CREATE INDEX read_facts_valid ON read_facts (subject, key, valid_from DESC, sequence DESC)
    INCLUDE (known_from, known_to, confidence);
CREATE INDEX read_facts_known ON read_facts (subject, key, known_from DESC) INCLUDE (bound);

-- Each (subject, key) with a fact: where register lookups start, and the current bound.
CREATE TABLE read_keys (
    subject    text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,
    first_known bigint NOT NULL,
    last_known bigint NOT NULL,
    bound      timestamptz NOT NULL,
    PRIMARY KEY (subject, key)
);

-- Each subject with a fact, in id order: what state and diff pages walk. `registers` and
-- `rows` (register keys, and their read_facts rows) choose how a page reads its registers.
CREATE TABLE read_subjects (
    subject     text COLLATE "C" PRIMARY KEY,
    first_known bigint NOT NULL,
    registers   bigint NOT NULL DEFAULT 0,
    rows        bigint NOT NULL DEFAULT 0
);
