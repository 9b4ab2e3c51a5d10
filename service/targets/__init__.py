"""Deployment targets behind one typed interface: `DeploymentTarget` (local, docker, aci)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from scoring import BATCHING_VARIABLES

from ..environments import ScoringEnvironment
from ..store.deployments import Deployment
from ..store.models import ModelVersion
from .layout import AppLayout


@dataclass(frozen=True)
class StartRequest:
    """One generation of one deployment, as the reconciler asks a target to start it."""

    name: str
    generation: int
    spec: dict                 # the generation's spec (service/deployments.py: build_spec)
    models: list[ModelVersion]
    layout: AppLayout
    port: int                  # the deployment's port (shared by generations: SO_REUSEPORT)
    health_port: int           # this generation's own port for health checks
    keys: tuple[str, str] | None
    environment: ScoringEnvironment | None  # None for remote targets (the platform builds)
    model_root: Path           # the registry's models/ folder
    overwrite: bool            # a generation already serves (an update)

    @property
    def worker_count(self) -> int:
        return self.spec.get("worker_count") or 1

    @property
    def scoring_env(self) -> dict[str, str]:
        """The scoring server's variables the spec sets (its micro-batching knobs)."""
        return {env: str(self.spec[key]) for key, env in BATCHING_VARIABLES.items() if self.spec.get(key)}

    @property
    def cpu_cores(self) -> float | None:
        return self.spec.get("cpu_cores")

    @property
    def memory_gb(self) -> float | None:
        return self.spec.get("memory_gb")


class DeploymentTarget(Protocol):
    """What the reconciler drives. `runtime` is the JSON-able dict `start` returned."""

    kind: str
    # True: the platform runs and heals the service (ACI) — no local process, no health port.
    remote: bool
    check_interval_s: float  # how often the reconciler asks is_running

    def start(self, request: StartRequest) -> dict:
        """Start the generation (remote: deploy and wait); raise StartFailed with the reason."""
        ...

    def is_running(self, runtime: dict) -> bool: ...

    def stop(self, runtime: dict, grace_s: float = ...) -> None:
        """Stop gracefully: in-flight requests finish."""
        ...

    def kill_group(self, runtime: dict) -> None:
        """Stop at once (a failed or superseded start, a restart)."""
        ...

    def logs(self, runtime: dict, lines: int) -> str: ...

    def delete(self, dep: Deployment) -> None:
        """Remove what the target keeps beyond the runtimes (ACI: the Azure service)."""
        ...
