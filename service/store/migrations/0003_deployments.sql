CREATE TABLE deployments (
    name TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    generation INTEGER NOT NULL,
    served_generation INTEGER,
    failed_generation INTEGER,
    spec TEXT NOT NULL,
    port INTEGER NOT NULL UNIQUE,
    auth_enabled INTEGER NOT NULL DEFAULT 0,
    primary_key TEXT,
    secondary_key TEXT,
    scoring_uri TEXT,
    swagger_uri TEXT,
    error TEXT,
    runtime TEXT NOT NULL DEFAULT '{}',
    deleting INTEGER NOT NULL DEFAULT 0,
    created_time TEXT NOT NULL,
    updated_time TEXT NOT NULL
);

CREATE TABLE deployment_history (
    name TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    spec TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_time TEXT NOT NULL,
    served_time TEXT,
    ended_time TEXT,
    outcome TEXT,
    PRIMARY KEY (name, generation)
)
