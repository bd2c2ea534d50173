-- As-of snapshots: a cache of folded states, NOT part of the log.
--
-- A row is one subject's state folded from every event concerning it whose (corrected)
-- valid time is <= valid_to, as known at sequence known_seq, at min_confidence, by the
-- fold code identified by `fold` (a fingerprint of the projection code: a row written by
-- other code is never read). It is rewritten and deleted freely (no append-only trigger):
-- deleting every row never changes an answer, only how long it takes. See
-- projections/snapshots.py for when a row may be used.
CREATE TABLE snapshots (
    subject         text        NOT NULL,
    fold            text        NOT NULL,
    min_confidence  text        NOT NULL,
    valid_to        timestamptz NOT NULL,
    known_seq       bigint      NOT NULL,
    state           bytea       NOT NULL,   -- msgpack of the subject kind's State Struct
    events          integer     NOT NULL,   -- how many events were folded into it
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, fold, min_confidence, valid_to, known_seq)
);
