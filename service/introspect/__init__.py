"""Model introspection: load a registered model in a child process and record its estimator."""
