"""The deployment reconciler: keeps each deployment as its row says (placeholder)."""
from __future__ import annotations


class DeploymentReconciler:
    """One agent loop: tick() brings deployments towards their desired state."""

    def __init__(self, store, ws, settings):
        self.store, self.ws, self.settings = store, ws, settings

    def tick(self) -> None:
        """Nothing to reconcile yet."""

    def stop(self) -> None:
        """Leave running deployments running: a restarted agent adopts them."""
