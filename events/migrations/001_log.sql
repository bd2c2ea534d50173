-- The log: one row per event, append-only, hash-chained.
CREATE TABLE events (
    sequence        bigint      PRIMARY KEY,
    id              text        NOT NULL,
    source          text        NOT NULL,
    type            text        NOT NULL,
    subject         text,
    time_given      text        NOT NULL,   -- the valid time exactly as posted
    valid_from      timestamptz NOT NULL,   -- start of its precision interval (UTC)
    time_precision  text        NOT NULL CHECK (time_precision IN ('instant', 'day', 'month', 'year')),
    time_qualifier  text        CHECK (time_qualifier IN ('approximate', 'uncertain')),
    confidence      text        NOT NULL CHECK (confidence IN ('confirmed', 'reported', 'unconfirmed', 'disputed')),
    data            json,                   -- json, not jsonb: the exact text the hash covers
    recorded_at     timestamptz NOT NULL,   -- transaction time: the service's clock, never decreasing
    hash            text        NOT NULL,
    predecessor_hash text       NOT NULL,
    target          text,                    -- for event.retracted / event.corrected: the target's id
    concerns        text[]      NOT NULL,
    CONSTRAINT events_source_id UNIQUE (source, id)
);
CREATE INDEX events_id ON events (id);
CREATE INDEX events_recorded_at ON events (recorded_at, sequence);
CREATE INDEX events_valid ON events (valid_from, sequence);

-- "Events concerning X up to valid time T": one range scan of this index.
CREATE TABLE event_concerns (
    subject     text        NOT NULL,
    valid_from  timestamptz NOT NULL,
    sequence    bigint      NOT NULL REFERENCES events (sequence),
    meta        boolean     NOT NULL,   -- a retraction or correction: applies at any valid time
    PRIMARY KEY (subject, valid_from, sequence)
);
CREATE INDEX event_concerns_latest ON event_concerns (subject, sequence);
CREATE INDEX event_concerns_meta ON event_concerns (subject, sequence) WHERE meta;

-- Append-only, enforced by the database itself.
CREATE FUNCTION annals_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the Annals log is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION annals_reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION annals_reject_change();
CREATE TRIGGER event_concerns_append_only BEFORE UPDATE OR DELETE ON event_concerns
    FOR EACH ROW EXECUTE FUNCTION annals_reject_change();
CREATE TRIGGER event_concerns_no_truncate BEFORE TRUNCATE ON event_concerns
    FOR EACH STATEMENT EXECUTE FUNCTION annals_reject_change();
