CREATE TABLE experiments (
    name TEXT PRIMARY KEY,
    created_time TEXT NOT NULL
);

CREATE TABLE runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    experiment TEXT NOT NULL REFERENCES experiments(name),
    parent_id TEXT REFERENCES runs(id),
    kind TEXT NOT NULL DEFAULT 'script',
    status TEXT NOT NULL,
    script TEXT NOT NULL,
    arguments TEXT NOT NULL DEFAULT '[]',
    environment TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    properties TEXT NOT NULL DEFAULT '{}',
    snapshot_sha256 TEXT NOT NULL,
    timeout_s REAL,
    status_times TEXT NOT NULL DEFAULT '{}',
    created_time TEXT NOT NULL,
    start_time TEXT,
    end_time TEXT,
    error TEXT,
    pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_experiment ON runs(experiment, seq);
CREATE INDEX runs_by_status ON runs(status, seq);
CREATE INDEX runs_by_parent ON runs(parent_id, seq);

CREATE TABLE metrics (
    run_id TEXT NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    step INTEGER,
    logged_time TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX metrics_by_name ON metrics(run_id, name);
