-- Retractions and corrections are few: find them without scanning the log.
CREATE INDEX events_meta ON events (sequence) WHERE target IS NOT NULL;
