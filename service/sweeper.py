"""The sweep controller: runs HyperDrive-style sweeps' children (placeholder)."""
from __future__ import annotations


class SweepController:
    """One agent loop: tick() starts, watches and stops sweep children."""

    def __init__(self, store, ws, settings):
        self.store, self.ws, self.settings = store, ws, settings

    def tick(self) -> None:
        """No sweeps yet."""

    def stop(self) -> None:
        """Nothing to stop."""
