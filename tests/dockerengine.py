"""A real Docker engine for tests: prepare it with docker/prepare-engine.sh, stop only what we start.

Use the `docker_engine` session fixture (import it into a conftest.py). When no engine can be
prepared the fixture FAILS the test rather than skipping it: CI must not go green without Docker.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PREPARE = REPO_ROOT / "docker" / "prepare-engine.sh"
STOP = REPO_ROOT / "docker" / "stop-engine.sh"
DEFAULT_BASE_IMAGE = "amlocal/debian:bookworm"
PREPARE_TIMEOUT = 480  # a cold machine installs docker.io and runs debootstrap (~40 s measured)


class EngineUnavailable(RuntimeError):
    """docker/prepare-engine.sh could not give us an answering engine and base image."""


@dataclass(frozen=True)
class Engine:
    """A prepared engine: the base image to build on and, if we started dockerd, its pidfile."""

    base_image: str
    pidfile: Path | None

    @property
    def started_pid(self) -> int | None:
        """The dockerd PID this session started, or None when the engine was already running."""
        if self.pidfile is None or not self.pidfile.exists():
            return None
        return int(self.pidfile.read_text().strip())


def prepare_engine(pidfile: Path, timeout: float = PREPARE_TIMEOUT,
                   environ: Mapping[str, str] | None = None) -> Engine:
    """Run prepare-engine.sh; return the engine, or raise EngineUnavailable with its output."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("AMLOCAL_BASE_IMAGE", DEFAULT_BASE_IMAGE)
    try:
        proc = subprocess.run(["bash", str(PREPARE), str(pidfile)], capture_output=True,
                              text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as err:
        _stop_pidfile(pidfile)  # it may have started dockerd before it hung
        raise EngineUnavailable(f"{PREPARE} did not finish within {timeout}s") from err
    if proc.returncode != 0:
        _stop_pidfile(pidfile)  # the script stops what it started; this is the safety net
        raise EngineUnavailable(f"{PREPARE} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    started = ""
    for line in proc.stdout.splitlines():
        if line.startswith("PIDFILE="):
            started = line.removeprefix("PIDFILE=").strip()
    return Engine(base_image=env["AMLOCAL_BASE_IMAGE"],
                  pidfile=Path(started) if started else None)


def _stop_pidfile(pidfile: Path) -> None:
    """stop-engine.sh on a pidfile only prepare-engine.sh writes, and only when it started dockerd."""
    if pidfile.exists():
        subprocess.run(["bash", str(STOP), str(pidfile)], check=True, timeout=120)


def _lease_dir() -> Path:
    """Where sessions using an engine leave a file named after their PID (see docker_engine)."""
    return Path(os.environ.get("AMLOCAL_STATE_DIR", "/var/run/amlocal")) / "engine-leases"


def _other_live_leases(lease_dir: Path) -> list[int]:
    """PIDs of other live sessions holding a lease on the engine; stale files are dropped."""
    others = []
    for lease in lease_dir.glob("*"):
        if not lease.name.isdigit():  # the STARTED record
            continue
        pid = int(lease.name)
        if pid == os.getpid():
            continue
        if pid > 0 and Path(f"/proc/{pid}").exists():
            others.append(pid)
        else:
            lease.unlink(missing_ok=True)
    return others


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An answering Docker engine and local base image for the whole session; fails if none."""
    # Several test sessions may share one engine on a machine (the suite's two xdist workers, or
    # other runs): each holds a lease. The session that started dockerd records its pidfile in
    # STARTED; the last session to leave stops that dockerd, whichever session it is.
    lease_dir = _lease_dir()
    lease_dir.mkdir(parents=True, exist_ok=True)
    lease = lease_dir / str(os.getpid())
    lease.touch()
    pidfile = tmp_path_factory.mktemp("dockerd") / "dockerd.pid"
    try:
        try:
            engine = prepare_engine(pidfile)
        except EngineUnavailable as err:
            pytest.fail(f"no Docker engine: {err}", pytrace=False)
        if engine.pidfile is not None:
            (lease_dir / STARTED).write_text(str(engine.pidfile), encoding="utf-8")
        yield engine
    finally:
        _leave(lease_dir, lease)


STARTED = "started-by"  # in the lease folder: the pidfile of the dockerd a test session started


def _leave(lease_dir: Path, lease: Path) -> None:
    """Drop this session's lease; the last session out stops the dockerd a session started."""
    with _lease_lock(lease_dir):
        lease.unlink(missing_ok=True)
        others = _other_live_leases(lease_dir)
        record = lease_dir / STARTED
        if not record.exists():
            return
        if others:
            print(f"\ndockerengine: leaving dockerd running for sessions {others}")
            return
        _stop_pidfile(Path(record.read_text(encoding="utf-8").strip()))
        record.unlink(missing_ok=True)


@contextlib.contextmanager
def _lease_lock(lease_dir: Path) -> Iterator[None]:
    """One session at a time decides whether it is the last one out."""
    with open(lease_dir / ".lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
