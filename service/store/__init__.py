"""The store: SQLite plus artifact folders, spoken to in verbs and dataclasses."""
from __future__ import annotations

from .base import StoreBase, iso, utc_now
from .runs import ACTIVE, PENDING, TERMINAL, Run, RunStore

__all__ = ["Store", "Run", "ACTIVE", "PENDING", "TERMINAL", "iso", "utc_now"]


class Store(RunStore):
    """Every verb of the store (one mixin per resource)."""
