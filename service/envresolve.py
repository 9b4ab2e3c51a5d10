"""How runs find their environments (placeholder until the environments issue lands)."""
from __future__ import annotations

from typing import Any, Callable


def make_environment_resolver(store, ws) -> Callable[[Any], Any] | None:
    """Turns a run config's `environment` into what the run records; None = not supported."""
    return None


def make_run_preparer(store, ws, settings) -> Callable | None:
    """Called in Preparing: returns RunSpec overrides (python=...) for a run; None = own Python."""
    return None
