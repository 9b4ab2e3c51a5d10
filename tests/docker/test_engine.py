"""The engine helper: prepare-engine.sh is idempotent, the base is bare Debian, stop is by PID only."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tests.dockerengine import PREPARE, REPO_ROOT, STOP, EngineUnavailable, prepare_engine

pytestmark = pytest.mark.docker


def test_engine_answers_and_base_image_has_no_python(docker_engine):
    info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                          capture_output=True, text=True, timeout=30, check=True)
    assert info.stdout.strip()
    probe = subprocess.run(["docker", "run", "--rm", "--network", "host", docker_engine.base_image,
                            "sh", "-c", "command -v python3 || echo no-python"],
                           capture_output=True, text=True, timeout=60, check=True)
    # The Dockerfile must therefore install Python itself on this base.
    assert probe.stdout.strip() == "no-python"


def test_second_prepare_starts_nothing(docker_engine, tmp_path):
    again = prepare_engine(tmp_path / "again.pid", timeout=60)
    assert again.pidfile is None and again.started_pid is None
    assert not (tmp_path / "again.pid").exists()


def test_started_pid_is_a_dockerd(docker_engine):
    # None means an engine already answered before this session: then it is not ours to stop.
    if docker_engine.started_pid is not None:
        with open(f"/proc/{docker_engine.started_pid}/comm", encoding="utf-8") as comm:
            assert comm.read().strip() == "dockerd"


def test_stop_engine_refuses_a_pid_that_is_not_dockerd(tmp_path):
    bystander = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                 stdin=subprocess.PIPE)
    try:
        pidfile = tmp_path / "dockerd.pid"
        pidfile.write_text(f"{bystander.pid}\n")
        result = subprocess.run(["bash", str(STOP), str(pidfile)], capture_output=True,
                                text=True, timeout=30, check=True)
        assert "not a running dockerd" in result.stderr
        assert bystander.poll() is None
    finally:
        bystander.communicate(b"", timeout=10)


def test_scripts_are_executable():
    for script in (PREPARE, STOP):
        assert script.stat().st_mode & 0o111, script


def test_prepare_failure_raises(docker_engine, tmp_path):
    env = dict(os.environ, AMLOCAL_DEBIAN_SUITE="no-such-suite",
               AMLOCAL_BASE_IMAGE=f"amlocal-test/absent:{uuid.uuid4().hex[:8]}",
               AMLOCAL_CACHE_DIR=str(tmp_path / "cache"))
    with pytest.raises(EngineUnavailable, match="debootstrap failed"):
        prepare_engine(tmp_path / "x.pid", timeout=120, environ=env)


def test_fixture_fails_rather_than_skips_without_an_engine(tmp_path):
    # An inner session whose engine cannot be prepared: its docker test must error, not skip.
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "conftest.py").write_text("from tests.dockerengine import docker_engine  # noqa\n")
    (inner / "test_needs_docker.py").write_text(
        "def test_needs_docker(docker_engine):\n    assert docker_engine\n")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), AMLOCAL_DEBIAN_SUITE="no-such-suite",
               AMLOCAL_BASE_IMAGE=f"amlocal-test/absent:{uuid.uuid4().hex[:8]}",
               AMLOCAL_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
                             str(inner)], cwd=inner, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 error" in result.stdout and "skipped" not in result.stdout, result.stdout[-3000:]
    assert "no Docker engine" in result.stdout and "debootstrap failed" in result.stdout
