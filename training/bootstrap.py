"""Start a training script inside an amlocal run: `python bootstrap.py SCRIPT [ARGS...]`.

Standalone and standard-library only: it runs in whatever interpreter the run's environment has,
where amlocal itself is usually not installed, so it loads its two helpers (`runcontext.py`,
`metrics.py`) by path from its own folder. It makes `Run.get_context()` return the amlocal run:
when azureml-core is importable its `Run.get_context` is replaced right after `azureml.core.run`
executes (an import hook); when it is not, minimal `azureml`, `azureml.core` and
`azureml.core.run` modules are provided. Then the script runs as `__main__`, like `python SCRIPT`.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import runpy
import sys
import traceback
import types
from typing import Any, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
SHIMMED = ("azureml", "azureml.core", "azureml.core.run")
# The loader and finder classes are duck-typed on purpose: importing importlib.abc costs ~20 ms,
# paid by every run.


def load_by_path(name: str, filename: str) -> types.ModuleType:
    """Import a sibling file under a private module name."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, filename))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look the module up while it executes
    spec.loader.exec_module(module)
    return module


class _PatchingLoader:
    """Runs the real `azureml.core.run`, then points its Run.get_context at the amlocal run."""

    def __init__(self, real: Any, run: Any):
        self._real, self._run = real, run

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._real.exec_module(module)
        run = self._run

        def get_context(cls: Any, allow_offline: bool = True,
                        used_for_context_manager: bool = False, **kwargs: Any) -> Any:
            return run

        module.Run.get_context = classmethod(get_context)


class _ShimLoader:
    """Provides a minimal azureml package where azureml-core is not installed."""

    def __init__(self, run_class: type):
        self._run_class = run_class

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        if module.__name__ == "azureml":
            module.__path__ = []
        elif module.__name__ == "azureml.core":
            module.__path__ = []
            module.Run = self._run_class
        else:
            module.Run = self._run_class
            module._OfflineRun = self._run_class  # isinstance checks in scripts must not crash


class RunContextFinder:
    """Intercepts the three azureml module names; everything else imports as usual."""

    def __init__(self, run: Any, run_class: type):
        self._run, self._run_class = run, run_class
        self._shimming = False

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in SHIMMED:
            return None
        # Once the shim took `azureml`, its children must come from the shim too.
        real = None if self._shimming else importlib.machinery.PathFinder.find_spec(fullname, path)
        if real is None:
            self._shimming = True
            return importlib.machinery.ModuleSpec(fullname, _ShimLoader(self._run_class),
                                                  is_package=fullname != "azureml.core.run")
        if fullname == "azureml.core.run" and real.loader is not None:
            real.loader = _PatchingLoader(real.loader, self._run)
        return real


def _print_user_traceback(err: BaseException) -> None:
    """Print the traceback without this file's and runpy's frames, as `python SCRIPT` would."""
    tb = err.__traceback__
    skip = {os.path.abspath(__file__), os.path.abspath(runpy.__file__), "<frozen runpy>"}
    while tb is not None and (tb.tb_frame.f_code.co_filename in skip
                              or os.path.abspath(tb.tb_frame.f_code.co_filename) in skip):
        tb = tb.tb_next
    traceback.print_exception(type(err), err, tb)


def main(argv: list[str]) -> int:
    """Bind the run, install the import hook, run the script; return the exit code."""
    if not argv:
        print("usage: bootstrap.py SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    metrics = load_by_path("_amlocal_metrics", "metrics.py")
    runcontext = load_by_path("_amlocal_runcontext", "runcontext.py")
    run = runcontext.bind(runcontext.from_environment(metrics.fold))
    sys.meta_path.insert(0, RunContextFinder(run, runcontext.AmlocalRun))
    script = argv[0]
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as err:  # the script's own failure: report it like python would
        _print_user_traceback(err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
