"""Materialise a spec into `envs_root/<hash>/`: built once, under a file lock, never half-made."""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

from environments import interpreters
from environments.resolution import Resolver
from environments.spec import (EnvSpec, EnvSpecError, check_machine, conda_arg,
                               conda_available)

MARKER = "amlocal-env.json"  # written last: its presence is what "built" means
BUILD_LOG = "amlocal-build.log"
INSTALLERS = ("auto", "uv", "pip", "conda")
_TAIL_LINES = 40


class EnvBuildError(RuntimeError):
    """An installer failed; carries the hash, the kept log's path and the log's last lines."""

    status = 422

    def __init__(self, message: str, env_hash: str, log_path: Path, log_tail: str):
        super().__init__(f"{message}\n{log_tail}" if log_tail else message)
        self.env_hash = env_hash
        self.log_path = log_path
        self.log_tail = log_tail


@dataclass(frozen=True)
class BuiltEnv:
    """A finished environment: where it is, its interpreter, and how it came to be."""

    hash: str
    path: Path
    python: Path
    reused: bool
    seconds: float
    installer: str = ""
    python_version: str = ""
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def build_log(self) -> Path:
        """Path of the log of the build that made this environment."""
        return self.path / BUILD_LOG

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Return process environment variables that run a command inside this environment."""
        env = dict(os.environ if base is None else base)
        env.pop("PYTHONHOME", None)
        env["VIRTUAL_ENV"] = str(self.path)
        env["PATH"] = os.pathsep.join([str(self.path / "bin"), env.get("PATH", "")]).rstrip(":")
        env.update(self.variables)
        return env


def find_built(spec: EnvSpec, envs_root: str | Path) -> BuiltEnv | None:
    """Return the finished environment for this spec, or None (no lock, no subprocess)."""
    started = time.perf_counter()
    path = Path(envs_root) / spec.hash
    try:
        record = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (path / "bin" / "python").exists():  # follows the link: the base Python may be gone
        return None
    return BuiltEnv(hash=spec.hash, path=path, python=path / "bin" / "python", reused=True,
                    seconds=time.perf_counter() - started, installer=record.get("installer", ""),
                    python_version=record.get("python_version", ""),
                    variables=dict(record.get("variables") or {}))


_UV_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _find_uv() -> str | None:
    try:
        from uv import find_uv_bin  # the `uv` wheel ships its binary and this helper
        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def uv_executable() -> str | None:
    """Return the uv binary: the one installed with amlocal's Python, else one on PATH.

    Looked up once under a lock: uv's helper reads sysconfig, whose first use is not
    thread-safe (two runs preparing at once saw a half-initialised config)."""
    with _UV_LOCK:
        return _find_uv()


def choose_installer(spec: EnvSpec, installer: str = "auto") -> str:
    """Resolve `auto` to conda (conda-only packages), uv (when present) or pip."""
    if installer not in INSTALLERS:
        raise ValueError(f"installer must be one of {INSTALLERS}, not {installer!r}")
    needs_conda = bool(spec.conda_only_packages())
    if installer == "auto":
        return "conda" if needs_conda else ("uv" if uv_executable() else "pip")
    if needs_conda and installer != "conda":
        raise EnvSpecError(f"conda-only packages {spec.conda_only_packages()} cannot be installed"
                           f" with {installer}", None, spec.source)
    return installer


class _Log:
    """Writes each line to the build's own log and to the caller's log, flushed as it comes."""

    def __init__(self, paths: list[Path]):
        self.files: list[IO[str]] = []
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.files.append(open(path, "a", encoding="utf-8"))  # noqa: SIM115 closed in close()

    def write(self, text: str) -> None:
        """Append text to every log."""
        for handle in self.files:
            handle.write(text)
            handle.flush()

    def close(self) -> None:
        """Close every log."""
        for handle in self.files:
            handle.close()


def _run(command: list[str], log: _Log, env: dict[str, str], timeout: float | None) -> None:
    log.write("$ " + " ".join(command) + "\n")
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, stdin=subprocess.DEVNULL) as proc:
        # a silent, hung installer writes no line to notice a deadline on: a timer kills it
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        watchdog = threading.Timer(timeout, expire) if timeout is not None else None
        if watchdog is not None:
            watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
            code = proc.wait()
        finally:
            if watchdog is not None:
                watchdog.cancel()
    if expired.is_set():
        raise subprocess.TimeoutExpired(command, timeout or 0)
    if code != 0:
        raise subprocess.CalledProcessError(code, command)


def _commands(spec: EnvSpec, installer: str, target: Path, python: str) -> list[list[str]]:
    """pip's and conda's steps (uv's are _uv_build's)."""
    requirements = spec.pip_requirements()
    venv_python = str(target / "bin" / "python")
    if installer == "pip":
        steps = [[python, "-m", "venv", str(target)]]
        install = [venv_python, "-m", "pip", "install", "--disable-pip-version-check"]
    else:
        conda = conda_available() or "conda"
        version = spec.python or interpreters.current_python()
        channels = [arg for ch in spec.channels for arg in ("-c", ch)]
        steps = [[conda, "create", "--yes", "--prefix", str(target), *channels,
                  f"python={version}", "pip", *map(conda_arg, spec.conda)]]
        requirements = list(spec.pip)
        install = [venv_python, "-m", "pip", "install", "--disable-pip-version-check"]
    if requirements:
        steps.append(install + requirements)
    return steps


def _uv_build(spec: EnvSpec, target: Path, python: str, log: _Log, env: dict[str, str],
              timeout: float | None) -> None:
    """Create the venv with uv, resolve the way pip would (environments/resolution.py), install
    exactly that resolution."""
    uv = uv_executable() or "uv"
    _run([uv, "venv", "--no-project", "--no-config", "--seed", "--python", python, str(target)],
         log, env, timeout)
    requirements = spec.pip_requirements()
    if not requirements:
        return
    venv_python = str(target / "bin" / "python")
    resolver = Resolver(uv, venv_python, lambda command: _run(command, log, env, timeout), log.write)
    try:
        pinned = resolver.resolve_like_pip(requirements)
        _run([uv, "pip", "install", "--no-config", "--python", venv_python, "-r", str(pinned)],
             log, env, timeout)
    finally:
        shutil.rmtree(resolver.scratch, ignore_errors=True)


def _retarget(tmp: Path, final: Path) -> None:
    # venv scripts and activate files name the folder they were built in: point them at the final one
    files = [tmp / "pyvenv.cfg"] + [p for p in (tmp / "bin").iterdir()
                                    if p.is_file() and not p.is_symlink()]
    for path in files:
        data = path.read_bytes()
        if b"\0" in data[:1024]:  # a binary: nothing to rewrite
            continue
        # full path first (shebangs, VIRTUAL_ENV), then the bare folder name (the prompt)
        changed = data.replace(str(tmp).encode(), str(final).encode())
        changed = changed.replace(tmp.name.encode(), final.name.encode())
        if changed != data:
            path.write_bytes(changed)


def _installer_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME",
                                                            "CONDA_PREFIX")}
    env.update({"UV_PYTHON_DOWNLOADS": "never", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PYTHONNOUSERSITE": "1"})
    env.update(extra or {})
    return env


def _interpreter(spec: EnvSpec) -> interpreters.Interpreter:
    check_machine(spec)
    interpreter = interpreters.pick_interpreter(spec.python)
    if interpreter is None:  # check_machine saw one; it vanished since
        raise EnvSpecError(f"no interpreter for python={spec.python}", None, spec.source)
    return interpreter


def _build(spec: EnvSpec, root: Path, installer: str, interpreter: interpreters.Interpreter,
           log: _Log, own_log: Path, installer_env: Mapping[str, str] | None,
           timeout: float | None) -> dict[str, Any]:
    """Build into a temporary folder (conda: in place) and return the marker record."""
    final = root / spec.hash
    # conda prefixes hard-code their path in many files, so conda builds where the env will live
    target = final if installer == "conda" else root / f"{spec.hash}.tmp-{os.getpid()}"
    started = time.perf_counter()
    log.write(f"# amlocal: building environment {spec.hash} with {installer},"
              f" Python {interpreter.version} ({interpreter.path})\n")
    env = _installer_env(installer_env)
    try:
        if installer == "uv":
            _uv_build(spec, target, interpreter.path, log, env, timeout)
        else:
            for command in _commands(spec, installer, target, interpreter.path):
                _run(command, log, env, timeout)
    except (OSError, subprocess.SubprocessError) as err:
        shutil.rmtree(target, ignore_errors=True)
        log.write(f"# amlocal: build failed: {err}\n")
        log.close()
        failed = root / f"{spec.hash}.failed.log"
        os.replace(own_log, failed)
        tail = "\n".join(failed.read_text(encoding="utf-8").splitlines()[-_TAIL_LINES:])
        raise EnvBuildError(f"building environment {spec.hash} failed: {err}", spec.hash, failed,
                            tail) from err
    record = {"hash": spec.hash, "spec": spec.to_dict(), "installer": installer,
              "python_version": interpreter.version, "variables": dict(spec.variables),
              "build_seconds": round(time.perf_counter() - started, 3), "built_at": time.time()}
    log.write(f"# amlocal: built environment {spec.hash} in {record['build_seconds']} s\n")
    log.close()
    os.replace(own_log, target / BUILD_LOG)
    if target != final:
        _retarget(target, final)
    (target / MARKER).write_text(json.dumps(record, indent=1), encoding="utf-8")
    if target != final:
        os.replace(target, final)
    (root / f"{spec.hash}.failed.log").unlink(missing_ok=True)
    return record


def _clear_leftovers(root: Path, env_hash: str) -> None:
    # Called under the lock after find_built() said no: any temporary folder, or a final one, is
    # a crashed or broken build's remains (only the lock holder builds), so it goes.
    for stale in root.glob(f"{env_hash}.tmp-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    final = root / env_hash
    if final.exists():  # find_built() said no: unfinished, or its interpreter has gone
        shutil.rmtree(final, ignore_errors=True)


def materialise(spec: EnvSpec, envs_root: str | Path, log_path: str | Path | None = None,
                installer: str = "auto", *, lock_timeout: float = 3600.0,
                build_timeout: float | None = None,
                installer_env: Mapping[str, str] | None = None) -> BuiltEnv:
    """Return the built environment for `spec`, building it once (concurrent callers wait)."""
    started = time.perf_counter()
    built = find_built(spec, envs_root)
    if built is not None:
        return built
    chosen = choose_installer(spec, installer)
    interpreter = _interpreter(spec)
    root = Path(envs_root)
    root.mkdir(parents=True, exist_ok=True)
    caller_log = [Path(log_path)] if log_path is not None else []
    lock = FileLock(str(root / f"{spec.hash}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        _note(caller_log, f"# amlocal: waiting for another process building {spec.hash}\n")
        try:
            lock.acquire(timeout=lock_timeout)
        except Timeout as err:
            raise EnvBuildError(f"timed out after {lock_timeout}s waiting for the build of"
                                f" {spec.hash}", spec.hash, root / f"{spec.hash}.lock", "") from err
    try:
        built = find_built(spec, root)
        if built is not None:  # someone else built it while we waited: share their log
            _note(caller_log, f"# amlocal: environment {spec.hash} was built by another process;"
                              " its build log follows\n" + _read(built.build_log))
            return dataclasses.replace(built, seconds=time.perf_counter() - started)
        _clear_leftovers(root, spec.hash)
        own_log = root / f"{spec.hash}.tmp-{os.getpid()}.log"
        record = _build(spec, root, chosen, interpreter, _Log([own_log] + caller_log), own_log,
                        installer_env, build_timeout)
    finally:
        lock.release()
    final = root / spec.hash
    return BuiltEnv(hash=spec.hash, path=final, python=final / "bin" / "python", reused=False,
                    seconds=time.perf_counter() - started, installer=chosen,
                    python_version=record["python_version"], variables=record["variables"])


def _note(paths: list[Path], text: str) -> None:
    log = _Log(paths)
    log.write(text)
    log.close()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""

