-- Versions are allocated from model_names.last_version, never from MAX(version): a deleted
-- version's number is never handed out again, so name:version always means the same bytes.
CREATE TABLE model_names (
    name TEXT PRIMARY KEY,
    last_version INTEGER NOT NULL
);

CREATE TABLE models (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL REFERENCES model_names(name),
    version INTEGER NOT NULL,
    framework TEXT,
    framework_version TEXT,
    resource_configuration TEXT,
    files TEXT NOT NULL DEFAULT '[]',
    run_id TEXT,
    experiment TEXT,
    run_path TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    properties TEXT NOT NULL DEFAULT '{}',
    description TEXT,
    created_time TEXT NOT NULL,
    environment TEXT,
    estimator TEXT,
    sample_input TEXT,
    UNIQUE (name, version)
);
CREATE INDEX models_by_run ON models(run_id);
CREATE INDEX models_by_framework ON models(framework, name)
