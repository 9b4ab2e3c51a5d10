"""The store: SQLite plus artifact folders, spoken to in verbs and dataclasses."""
from __future__ import annotations

from .base import iso, parse_version, utc_now
from .computes import ComputeStore
from .deployments import DeploymentStore
from .environments import EnvironmentStore
from .models import ModelStore
from .run_tokens import RUN_TOKEN_PREFIX, RunTokenStore
from .runs import ACTIVE, CHILD_KIND, PENDING, TERMINAL, Run, RunStore
from .sweeps import SweepStore
from .workspace import Workspace, init_workspace, load_or_create_token

__all__ = ["Store", "Run", "Workspace", "init_workspace", "load_or_create_token", "ACTIVE", "CHILD_KIND", "PENDING", "TERMINAL", "RUN_TOKEN_PREFIX", "iso", "parse_version", "utc_now"]


class Store(RunStore, RunTokenStore, ModelStore, DeploymentStore, EnvironmentStore, SweepStore,
            ComputeStore):
    """Every verb of the store (one mixin per resource)."""
