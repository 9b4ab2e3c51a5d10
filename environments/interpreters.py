"""Find the Python interpreters on this machine that an environment can be built from."""
from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

_CANDIDATE = re.compile(r"^python3(\.\d+)?$")
_PROBE = "import sys, platform; print(sys.executable); print(platform.python_version())"


@dataclass(frozen=True)
class Interpreter:
    """One working Python interpreter: its full version (e.g. 3.11.7) and its executable."""

    version: str
    path: str

    def satisfies(self, request: str) -> bool:
        """Tell whether this interpreter matches a request like `3.11` or `3.11.7`."""
        return (self.version + ".").startswith(request + ".")


def _probe(executable: str) -> Interpreter | None:
    # pyenv shims and broken links exist on PATH but fail when run: only a working answer counts
    try:
        done = subprocess.run([executable, "-c", _PROBE], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        return None
    return Interpreter(version=lines[1], path=lines[0])


def _candidates(path_var: str) -> list[str]:
    found: list[str] = []
    for folder in path_var.split(os.pathsep):
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            continue
        found.extend(str(Path(folder, n)) for n in names if _CANDIDATE.match(n))
    return found


@functools.lru_cache(maxsize=8)
def _find(path_var: str, current: str) -> tuple[Interpreter, ...]:
    seen: dict[str, Interpreter] = {}
    # /bin/python3 and /usr/bin/python3.11 are often one file: probe each real file once
    unique: dict[str, str] = {}
    for executable in [current, *_candidates(path_var)]:
        unique.setdefault(os.path.realpath(executable), executable)
    executables = list(unique.values())
    # each probe starts an interpreter (pyenv shims take ~0.5 s even to fail): probe in parallel
    with ThreadPoolExecutor(max_workers=min(8, len(executables))) as pool:
        probed = list(pool.map(_probe, executables))
    for interpreter in probed:
        if interpreter is None:
            continue
        key = os.path.realpath(interpreter.path)
        seen.setdefault(key, interpreter)
    return tuple(sorted(seen.values(), key=lambda i: _version_key(i.version), reverse=True))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def pyenv_folders() -> list[str]:
    """The bin folders of pyenv's installed versions (its shims on PATH run only the selected ones)."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    versions = Path(root, "versions")
    try:
        return [str(p / "bin") for p in sorted(versions.iterdir()) if (p / "bin").is_dir()]
    except OSError:
        return []


def find_interpreters(path_var: str | None = None, *,
                      refresh: bool = False) -> tuple[Interpreter, ...]:
    """List working interpreters (the current one, python3.X on PATH and, by default, pyenv's
    installed versions), newest first. `path_var` given: only the folders it names.

    Answers are cached per PATH for the process; `refresh` probes again (a new Python installed).
    """
    if refresh:
        _find.cache_clear()
    current = getattr(sys, "_base_executable", sys.executable)  # a venv's base, not the venv
    if path_var is None:
        path_var = os.pathsep.join([os.environ.get("PATH", ""), *pyenv_folders()])
    return _find(path_var, current)


def current_python() -> str:
    """Return the X.Y version of the interpreter running amlocal (the default for unpinned specs)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def pick_interpreter(request: str | None) -> Interpreter | None:
    """Return the newest interpreter satisfying `request` (None means the current X.Y)."""
    wanted = request or current_python()
    if request is None:
        # The interpreter we run on is the default: prefer it over a same-X.Y one on PATH.
        # the base interpreter, not a venv's, so a built env survives the venv we run from
        here = _probe(getattr(sys, "_base_executable", sys.executable))
        if here is not None:
            return here
    for interpreter in find_interpreters():
        if interpreter.satisfies(wanted):
            return interpreter
    return None
