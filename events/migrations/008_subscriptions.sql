-- Webhook subscriptions (SPEC §8): configuration and delivery progress, NOT part of the log.
-- A row is updated as its deliveries are acknowledged or fail, and deleted when the
-- subscription ends; the log's own tables stay append-only.
CREATE TABLE subscriptions (
    id              text        PRIMARY KEY,
    url             text        NOT NULL,
    types           text[],                        -- null: every type
    subject         text,                          -- null: events concerning any subject
    secret          text        NOT NULL,          -- whsec_…, signs every delivery
    after           bigint      NOT NULL,          -- deliveries start after this sequence
    -- Every matching event up to this sequence has been acknowledged: the delivery cursor.
    delivered       bigint      NOT NULL,
    failures        integer     NOT NULL DEFAULT 0, -- failed attempts since the last ack
    next_attempt_at timestamptz,                   -- when the waiting event is tried again
    last_error      text,
    last_error_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (delivered >= after)
);
