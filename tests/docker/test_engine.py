"""The engine helper: prepare-engine.sh is idempotent, the base is bare Debian, stop is by PID only."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.dockerengine import PREPARE, STOP, prepare_engine

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
