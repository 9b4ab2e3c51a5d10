"""The store's verbs for models (placeholder until its issue lands)."""
from __future__ import annotations

from .base import StoreBase


class ModelStore(StoreBase):
    """Verbs on models."""
