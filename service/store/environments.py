"""The store's verbs for environments (placeholder until its issue lands)."""
from __future__ import annotations

from .base import StoreBase


class EnvironmentStore(StoreBase):
    """Verbs on environments."""
