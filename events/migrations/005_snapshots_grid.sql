-- As-of snapshots taken by `annals snapshots rebuild` (a grid along valid time) are kept
-- until the next rebuild; only the ones written after a long answer are pruned to the
-- newest few. Still a cache: deleting any row never changes an answer.
ALTER TABLE snapshots ADD COLUMN grid boolean NOT NULL DEFAULT false;
