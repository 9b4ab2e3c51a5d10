"""The agent: one process that runs the run queue, the deployment reconciler and the sweep driver."""
