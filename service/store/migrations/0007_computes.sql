-- Compute targets (issue 17): where a run executes. `local` is built in (the agent's own run
-- queue) and has no row; a `ray` target names a Ray cluster by its dashboard/Jobs address.
CREATE TABLE computes (
    name TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    address TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_time TEXT NOT NULL
);
-- The target each run executes on (a sweep's children inherit their parent's).
ALTER TABLE runs ADD COLUMN compute TEXT NOT NULL DEFAULT 'local';
CREATE INDEX runs_by_compute ON runs(compute, status, seq)
