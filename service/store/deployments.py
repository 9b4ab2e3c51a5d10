"""The store's verbs for deployments (placeholder until its issue lands)."""
from __future__ import annotations

from .base import StoreBase


class DeploymentStore(StoreBase):
    """Verbs on deployments."""

    def deployments_using(self, model_id: str) -> list[str]:
        """Names of deployments that serve model `name:version` (none until deployments land)."""
        return []
