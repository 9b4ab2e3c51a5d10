"""The store's verbs for sweeps (placeholder until its issue lands)."""
from __future__ import annotations

from .base import StoreBase


class SweepStore(StoreBase):
    """Verbs on sweeps."""
