"""A real Docker engine for tests: prepare it with docker/prepare-engine.sh, stop only what we start.

Use the `docker_engine` session fixture (import it into a conftest.py). When no engine can be
prepared the fixture FAILS the test rather than skipping it: CI must not go green without Docker.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PREPARE = REPO_ROOT / "docker" / "prepare-engine.sh"
STOP = REPO_ROOT / "docker" / "stop-engine.sh"
BASE_IMAGE = os.environ.get("AMLOCAL_BASE_IMAGE", "amlocal/debian:bookworm")
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


def prepare_engine(pidfile: Path, timeout: float = PREPARE_TIMEOUT) -> Engine:
    """Run prepare-engine.sh; return the engine, or raise EngineUnavailable with its output."""
    env = dict(os.environ, AMLOCAL_BASE_IMAGE=BASE_IMAGE)
    try:
        proc = subprocess.run(["bash", str(PREPARE), str(pidfile)], capture_output=True,
                              text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as err:
        raise EngineUnavailable(f"{PREPARE} did not finish within {timeout}s") from err
    if proc.returncode != 0:
        raise EngineUnavailable(f"{PREPARE} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    started = ""
    for line in proc.stdout.splitlines():
        if line.startswith("PIDFILE="):
            started = line.removeprefix("PIDFILE=").strip()
    return Engine(base_image=BASE_IMAGE, pidfile=Path(started) if started else None)


def stop_engine(engine: Engine) -> None:
    """Stop the dockerd this session started (by its PID), and nothing else."""
    if engine.pidfile is None:
        return
    subprocess.run(["bash", str(STOP), str(engine.pidfile)], check=True, timeout=120)


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An answering Docker engine and local base image for the whole session; fails if none."""
    pidfile = tmp_path_factory.mktemp("dockerd") / "dockerd.pid"
    try:
        engine = prepare_engine(pidfile)
    except EngineUnavailable as err:
        pytest.fail(f"no Docker engine: {err}", pytrace=False)
    try:
        yield engine
    finally:
        stop_engine(engine)
