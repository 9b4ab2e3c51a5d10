-- The final status a run's script asked for over HTTP (run.complete(), run.fail(...)) while it
-- still runs: {"status", "error"}. Whoever ends the run's process (the agent for a local run, a
-- compute target's launcher for a remote one) applies it, as the events file does for local runs.
ALTER TABLE runs ADD COLUMN requested_status TEXT;
