-- What retractions and corrections do to the timeline (docs/READ_MODEL.md, "The timeline"),
-- written by queries/projector.py beside read_facts from the same belief rules. Both hold
-- only events that a retraction or correction has touched: a page of the timeline scans
-- the log's own index and consults these for the few such events it meets.

-- A stored event not shown as stored (retracted, or shown as a correction restates it)
-- during an interval of transaction time.
CREATE TABLE read_hidden (
    sequence   bigint NOT NULL,
    known_from bigint NOT NULL,
    known_to   bigint,                       -- NULL: still hidden
    PRIMARY KEY (sequence, known_from)
);

-- An event as a correction restates it, for each subject that version concerns and once
-- for the whole log (subject ''), during an interval of transaction time.
CREATE TABLE read_restated (
    subject    text COLLATE "C" NOT NULL,
    valid_from timestamptz NOT NULL,         -- the restated valid time: where it sorts
    sequence   bigint NOT NULL,              -- the stored event
    version    bigint NOT NULL,              -- the correction's sequence
    known_from bigint NOT NULL,
    known_to   bigint,                       -- NULL: still believed
    confidence smallint NOT NULL,            -- CONFIDENCE_RANK of the restated event
    PRIMARY KEY (subject, valid_from, sequence, known_from)
);
CREATE INDEX read_restated_version ON read_restated (sequence, version) WHERE known_to IS NULL;
