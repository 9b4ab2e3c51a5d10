"""The store: SQLite plus artifact folders, spoken to in verbs and dataclasses."""
from __future__ import annotations

from .base import iso, utc_now
from .deployments import DeploymentStore
from .environments import EnvironmentStore
from .models import ModelStore
from .runs import ACTIVE, PENDING, TERMINAL, Run, RunStore
from .sweeps import SweepStore

__all__ = ["Store", "Run", "ACTIVE", "PENDING", "TERMINAL", "iso", "utc_now"]


class Store(RunStore, ModelStore, DeploymentStore, EnvironmentStore, SweepStore):
    """Every verb of the store (one mixin per resource)."""
