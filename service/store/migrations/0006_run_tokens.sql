-- Run-scoped tokens: what a running script sends (AZUREML_RUN_TOKEN) to act on its own run over
-- HTTP. Only the token's sha256 is kept. A token is valid while its run is active, it has not
-- expired and it has not been revoked (finish_run revokes a run's tokens when the run ends).
CREATE TABLE run_tokens (
    token_sha256 TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    created_time TEXT NOT NULL,
    expires_time TEXT NOT NULL,
    revoked_time TEXT
);
CREATE INDEX run_tokens_by_run ON run_tokens(run_id);
