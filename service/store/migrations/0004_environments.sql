-- Registered environments. Versions come from environment_names.last_version (as for models),
-- so a number is never handed out twice. content_hash is machine-independent: the same spec
-- registered again gets its latest version back instead of a new one.
CREATE TABLE environment_names (
    name TEXT PRIMARY KEY,
    last_version INTEGER NOT NULL
);

CREATE TABLE environments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL REFERENCES environment_names(name),
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    spec TEXT NOT NULL,
    definition TEXT NOT NULL,
    description TEXT,
    created_time TEXT NOT NULL,
    UNIQUE (name, version)
)
