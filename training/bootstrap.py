"""Start a training script inside an amlocal run: `python bootstrap.py SCRIPT [ARGS...]`.

Standalone and standard-library only: it runs in whatever interpreter the run's environment has,
where amlocal itself is usually not installed, so it loads its helpers (`metrics.py`,
`runapi.py`, `runcontext.py`) by path from its own folder. It makes `Run.get_context()` return
the amlocal run: when azureml-core is importable its `Run.get_context` is replaced right after
`azureml.core.run` executes (an import hook); when it is not, the stand-in `azureml` package in
`standin/` answers the imports real scripts use. Then the script runs as `__main__`, like
`python SCRIPT`. If it raises, its run is marked Failed with the exception's line
(`ValueError: bad input`) as the reason, and the traceback is printed as Python would.

With `AMLOCAL_RUN_CHANNEL=http` (a run on a remote compute) the run's records go to the control
API, and at the end `./outputs` and `./logs` are uploaded as the run's files.
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
STANDIN = os.path.join(HERE, "standin")
KEPT_DIRS = ("outputs", "logs")
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
        import azureml.exceptions  # the real SDK's errors, raised by the amlocal run too
        sys.modules["_amlocal_runcontext"].use_exceptions(azureml.exceptions)


class RunContextFinder:
    """Decides once where `azureml` comes from: the real azureml-core when the run's environment
    has it (with `azureml.core.run` patched), else amlocal's stand-in package."""

    def __init__(self, run: Any, standin: str = STANDIN):
        self._run, self._standin = run, standin

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == "azureml":
            real = importlib.machinery.PathFinder.find_spec(fullname, path)
            locations = list(real.submodule_search_locations or []) if real else []
            if real is None or importlib.machinery.PathFinder.find_spec(
                    "azureml.core", locations) is None:
                return importlib.machinery.PathFinder.find_spec(fullname, [self._standin])
            return real
        if fullname == "azureml.core.run":
            real = importlib.machinery.PathFinder.find_spec(fullname, path)
            if real is not None and real.loader is not None and self._standin not in str(
                    real.origin):
                real.loader = _PatchingLoader(real.loader, self._run)
            return real
        return None


def _exception_line(err: BaseException) -> str:
    """`ValueError: bad input`: the last line Python prints for an exception. The real SDK's
    errors print a multi-line report; their message is what they say."""
    kind = type(err)
    message = getattr(err, "message", None)
    public = getattr(sys.modules.get("azureml.exceptions"), kind.__name__, None)
    if public is kind and isinstance(message, str):
        return f"azureml.exceptions.{kind.__name__}: {message}"
    return traceback.format_exception_only(kind, err)[-1].strip()


def _report_failure(run: Any, err: BaseException) -> None:
    """Mark the run Failed with the exception as its reason (best effort: the traceback still
    goes to stderr if this cannot be recorded)."""
    try:
        run.fail(error_details=_exception_line(err), error_code="UserError")
    except Exception:  # a full disk or an unreachable service must not hide the script's error
        pass


def upload_kept_dirs(run: Any, root: str = ".") -> None:
    """A remote run's ./outputs and ./logs become its files (what a local run's executor moves)."""
    have = set(run.get_file_names())
    for kept in KEPT_DIRS:
        base = os.path.join(root, kept)
        for folder, _dirs, files in os.walk(base):
            for file in sorted(files):
                full = os.path.join(folder, file)
                name = os.path.relpath(full, root).replace(os.sep, "/")
                if name not in have and os.path.isfile(full) and not os.path.islink(full):
                    run.upload_file(name, full)


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
    runapi = load_by_path("_amlocal_runapi", "runapi.py")
    runcontext = load_by_path("_amlocal_runcontext", "runcontext.py")
    run = runcontext.bind(runcontext.from_environment(metrics.fold, api_class=runapi.RunApi))
    sys.meta_path.insert(0, RunContextFinder(run))
    script = argv[0]
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if exit_.code is not None and not isinstance(exit_.code, int):
            print(exit_.code, file=sys.stderr)
    except BaseException as err:  # the script's own failure: report it like python would
        _report_failure(run, err)
        _print_user_traceback(err)
        code = 1
    if os.environ.get("AMLOCAL_RUN_CHANNEL") == "http":
        try:
            upload_kept_dirs(run)
        except Exception as err:  # the run fails, saying why, rather than losing its outputs
            print(f"amlocal: could not upload outputs/ and logs/: {_exception_line(err)}",
                  file=sys.stderr)
            return code or 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
