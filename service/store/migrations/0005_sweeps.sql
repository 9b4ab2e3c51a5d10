-- A sweep is a run of kind 'sweep' (its script, arguments, environment and snapshot are the
-- children's run config) plus this row: the validated sweep config, with the seed drawn at
-- submission so an agent restart replays the same configurations.
CREATE TABLE sweeps (
    run_id TEXT PRIMARY KEY REFERENCES runs(id),
    config TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '[]',
    stop_reason TEXT
);
