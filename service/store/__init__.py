"""The store: SQLite plus artifact folders, spoken to in verbs and dataclasses."""
from __future__ import annotations

from .base import iso, parse_version, utc_now
from .deployments import DeploymentStore
from .environments import EnvironmentStore
from .models import ModelStore
from .runs import ACTIVE, PENDING, TERMINAL, Run, RunStore
from .sweeps import SweepStore
from .workspace import Workspace, init_workspace, load_or_create_token

__all__ = ["Store", "Run", "Workspace", "init_workspace", "load_or_create_token", "ACTIVE", "PENDING", "TERMINAL", "iso", "parse_version", "utc_now"]


class Store(RunStore, ModelStore, DeploymentStore, EnvironmentStore, SweepStore):
    """Every verb of the store (one mixin per resource)."""
