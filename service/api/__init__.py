"""The control API's views: one blueprint per resource; each view parses, calls the domain, answers."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Every resource's blueprint."""
    from . import (computes, container_tests, deployments, environments, health, models,
                   run_files, run_tracking, runs, sweeps)

    for module in (health, run_files, run_tracking, runs, models, deployments, environments,
                   sweeps, computes, container_tests):
        app.register_blueprint(module.bp)
