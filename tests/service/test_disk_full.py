"""A full disk is a clear error everywhere: uploads beyond free space are refused with 507 before
they are stored, a run that cannot write Fails saying so within its timeout, deletes still work,
and what interrupted uploads left under tmp/ is reclaimed at start-up.

The workspace sits on a small tmpfs each test mounts itself (skipped where mounting is not
allowed); the service is real (gunicorn + agent on 127.0.0.1)."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from service.models import register_upload
from service.runs import store_snapshot
from service.store import Store, init_workspace
from tests.conftest import REPO, Service, assert_error, free_port, make_snapshot
from tests.diskfull import fill, small_disk
from tests.service.test_deployments_support import iris_model, kill_leftovers, wait_state

FULL = "no space left on device"


@pytest.fixture
def disk(tmp_path: Path):
    with small_disk(tmp_path / "disk", "20m") as mounted:
        yield mounted


@pytest.fixture
def svc_on_disk(disk: Path):
    service = Service(disk / "ws", free_port()).start()
    yield service
    service.stop()
    kill_leftovers(service.workspace)


def _upload_model(svc: Service, name: str, data: bytes):
    return svc.http("POST", "/models", data={"config": json.dumps({"name": name, "framework": "ScikitLearn"})},
                    files={"files": ("model.joblib", data)})


def _leftovers(ws: Path) -> list[str]:
    return sorted(os.listdir(ws / "tmp"))


def test_uploads_beyond_free_space_are_refused_with_507_before_they_are_stored(svc_on_disk: Service) -> None:
    ws = svc_on_disk.workspace
    too_big = os.urandom(30 * 1024 * 1024)  # the disk is 20 MiB; random bytes do not compress
    error = assert_error(_upload_model(svc_on_disk, "big", too_big), 507, field="files")
    assert error["message"].startswith(f"{FULL}: the upload is {len(too_big)} bytes")
    assert "clashes" not in error["message"]
    snapshot = make_snapshot({"train.py": "print(1)", "data.bin": too_big})
    resp = svc_on_disk.http("POST", "/experiments/exp/runs", files={"snapshot": ("s.tar.gz", snapshot)},
                            data={"config": json.dumps({"script": "train.py", "arguments": []})})
    assert_error(resp, 507, field="snapshot", contains=FULL)
    assert _leftovers(ws) == [] and os.listdir(ws / "models") == [] and os.listdir(ws / "snapshots") == []
    # What fits is still taken.
    assert _upload_model(svc_on_disk, "small", iris_model()).status_code == 201


class Unseekable(io.RawIOBase):
    """An upload stream that cannot tell its size: only writing it finds the disk full."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = b"\x01" * n
        self.left -= n
        return n


class Part:
    def __init__(self, filename: str, stream) -> None:
        self.filename, self.stream = filename, io.BufferedReader(stream)


def test_a_disk_that_fills_while_an_upload_is_written_is_a_507_too(disk: Path) -> None:
    ws = init_workspace(disk / "ws")
    store = Store(ws.db_path)
    fields = {"name": "m", "framework": "Custom", "framework_version": None, "tags": {}, "properties": {},
              "description": None, "resource_configuration": None, "sample_input": None}
    with pytest.raises(Exception) as refused:
        register_upload(store, fields, [Part("model.bin", Unseekable(30 * 1024 * 1024))], timeout_s=10)
    assert refused.value.status == 507 and refused.value.message.startswith(
        f"{FULL}: model file 'model.bin' could not be written"), refused.value
    with pytest.raises(Exception) as refused:
        store_snapshot(ws, io.BufferedReader(Unseekable(30 * 1024 * 1024)), 300 * 1024 * 1024, "train.py")
    assert refused.value.status == 507 and refused.value.field == "snapshot"
    assert _leftovers(ws.root) == [] and store.list_model_versions() == []
    store.close()


FILL_THEN_TALK = """
import sys, time
try:
    with open("outputs/big.bin", "wb") as out:
        while True:
            out.write(b"\\0" * 65536)
except OSError as err:
    print(f"outputs full: {err}", file=sys.stderr)
while True:  # and goes on writing to a log that cannot be written either
    print("still here", flush=True)
    time.sleep(0.01)
"""


def test_on_a_full_disk_runs_fail_clearly_writes_are_507_and_deletes_work(svc_on_disk: Service) -> None:
    svc, ws = svc_on_disk, svc_on_disk.workspace
    for _ in range(2):
        assert _upload_model(svc, "iris", iris_model()).status_code == 201
    assert svc.http("POST", "/deployments", json={"name": "iris-full", "models": ["iris:1"]}).status_code == 202
    assert wait_state(svc, "iris-full")["state"] == "Healthy"

    run = svc.submit({"train.py": FILL_THEN_TALK}, "train.py", timeout_s=5)
    done = svc.wait_run(run["id"], timeout=120)
    assert done["status"] == "Failed", done
    # Ended by its timeout, not left Running, and saying why its log is short.
    assert done["error"]["message"].startswith("Run exceeded its timeout of 5 s (no space left on device: ")
    assert (ws / "runs" / run["id"] / "outputs" / "big.bin").stat().st_size > 0  # kept with the run

    fill(ws / "filler.bin")  # whatever room the run's end left: the disk is full now
    assert_error(svc.http("PATCH", f"/runs/{run['id']}/tags", json={"add": {"a": "b"}}), 507, contains=FULL)
    resp = svc.http("POST", "/experiments/exp/runs", files={"snapshot": ("s.tar.gz", make_snapshot(
        {"train.py": "print(1)"}))}, data={"config": json.dumps({"script": "train.py", "arguments": []})})
    assert_error(resp, 507, field="snapshot", contains=FULL)
    assert svc.http("GET", "/models/iris/versions/2").status_code == 200  # reading works

    assert svc.http("DELETE", "/models/iris/versions/2").status_code == 200
    assert svc.http("DELETE", "/deployments/iris-full").status_code == 200
    assert svc.http("GET", "/deployments/iris-full").status_code == 404
    assert not (ws / "models" / "iris" / "2").exists() and not (ws / "deployments" / "iris-full").exists()


# Registers a model as the registry does, and dies with its stage (and its bytes) under tmp/.
DIES_MID_REGISTRATION = """
import io, os, signal, sys
from service.store import Store
store = Store(sys.argv[1])
staged = store.new_stage()
store.stage_file(staged, "model.bin", io.BytesIO(os.urandom(5 * 1024 * 1024)))
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
print("staged", flush=True)
sys.stdin.read()  # a registration still in progress, until the test lets it go
store.discard_stage(staged)
"""


def test_what_an_interrupted_registration_staged_is_reclaimed_at_start_up(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    script = tmp_path / "register.py"
    script.write_text(DIES_MID_REGISTRATION)
    died = subprocess.run([sys.executable, str(script), str(ws.db_path), "die"], cwd=REPO)
    assert died.returncode == -signal.SIGKILL
    [left] = _leftovers(ws.root)
    assert (ws.tmp_dir / left / "model.bin").stat().st_size == 5 * 1024 * 1024
    going = subprocess.Popen([sys.executable, str(script), str(ws.db_path), "wait"], cwd=REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    svc = None
    try:
        assert going.stdout.readline() == b"staged\n"
        [held] = set(_leftovers(ws.root)) - {left}
        svc = Service(ws.root, free_port()).start()
        # Started: the dead registration's stage is gone, the one in progress is not.
        assert _leftovers(ws.root) == [held]
    finally:
        going.communicate(b"", timeout=60)
        if svc is not None:
            svc.stop()
    assert _leftovers(ws.root) == []


def test_a_workspace_reopened_on_a_full_disk_can_be_read_and_emptied(disk: Path) -> None:
    """All connections closed (a restart): SQLite must make amlocal.db-shm anew, which needs room."""
    ws = init_workspace(disk / "ws")
    store = Store(ws.db_path)
    for _ in range(2):
        staged = store.new_stage()
        store.stage_file(staged, "model.bin", io.BytesIO(os.urandom(100_000)))
        store.register_model_version("m", staged)
    store.close()
    assert not (ws.root / "amlocal.db-shm").exists()
    fill(ws.root / "filler.bin")
    init_workspace(ws.root)  # what a restarting service does first
    store = Store(ws.db_path)
    assert [m.id for m in store.list_model_versions("m")] == ["m:2", "m:1"]
    fill(ws.root / "filler-2.bin")  # what opening took from the reserve is taken by others
    with pytest.raises(Exception) as refused:
        store.update_model_tags("m", 1, add={"a": "b"})
    assert refused.value.status == 507 and refused.value.message.startswith(FULL)
    store.delete_model_version("m", 2)
    store.delete_model_version("m", 1)
    assert store.list_model_versions() == [] and not (ws.root / "models" / "m" / "1").exists()
    store.close()
