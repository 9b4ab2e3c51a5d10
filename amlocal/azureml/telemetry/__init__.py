"""azureml.telemetry: amlocal sends no diagnostics anywhere; the switch is accepted."""
from __future__ import annotations

from .._base import module_getattr


def set_diagnostics_collection(send_diagnostics: bool = True, verbose: bool = False,
                               reset: bool = False, path: str | None = None) -> None:
    print("amlocal collects no diagnostics: set_diagnostics_collection has no effect.")


__getattr__ = module_getattr(__name__)
