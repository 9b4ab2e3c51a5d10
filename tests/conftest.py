"""Shared fixtures: a Flask app on a tmp workspace, a real service (gunicorn + agent), verbs."""
from __future__ import annotations

import functools
import io
import json
import os
import signal
import socket
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.polling import wait_for

TOKEN = "test-token-0123456789"
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@functools.cache
def prepare_sandbox() -> bool:
    """Install bubblewrap if missing (docker/prepare-sandbox.sh), once per session: every real
    service then confines user code as a real deployment would. False if it cannot be had."""
    return subprocess.run([str(REPO / "docker" / "prepare-sandbox.sh")], stdout=subprocess.DEVNULL,
                          timeout=600).returncode == 0


def make_snapshot(files: dict[str, str | bytes]) -> bytes:
    """A .tar.gz holding `files` (path → content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def assert_error(resp, status: int, field: str | None = None, contains: str | None = None):
    """Every error test checks the one error shape through here."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    body = resp.json() if hasattr(resp, "json") and callable(resp.json) else resp.get_json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["status"] == status and isinstance(err["message"], str) and err["message"]
    assert "Traceback" not in json.dumps(body)
    if field is not None:
        assert err.get("field") == field, err
    if contains is not None:
        assert contains in err["message"], err["message"]
    return err


@pytest.fixture
def visible_dir():
    """A folder a sandboxed script can read (it sees the host read-only, but its /tmp and the
    service's home are private): where a test drops the files a script waits for."""
    folder = Path(tempfile.mkdtemp(prefix="amlocal-test-", dir="/var/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_processes(run_id: str) -> list[int]:
    """Live processes of a run (its supervisor, sandbox and script, whatever they started): those
    whose environment names the run."""
    marker = f"AZUREML_RUN_ID={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and process_alive(int(entry.name)):
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def process_alive(pid: int) -> bool:
    """Whether a pid is a live process (a zombie is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture
def app(tmp_path):
    from service.app import create_app

    return create_app({"AMLOCAL_WORKSPACE": str(tmp_path / "ws"), "AMLOCAL_API_TOKEN": TOKEN})


@pytest.fixture
def client(app):
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return test_client


@dataclass
class Service:
    """A real `amlocal serve` (gunicorn + agent) on 127.0.0.1, with domain verbs for tests."""

    workspace: Path
    port: int
    proc: subprocess.Popen | None = None
    env: dict | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **env) -> "Service":
        prepare_sandbox()
        self.env = {**os.environ, "AMLOCAL_API_TOKEN": TOKEN, "AMLOCAL_WORKSPACE":
                    str(self.workspace), "AMLOCAL_CANCEL_GRACE_S": "2", **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port",
                                      str(self.port), "--workspace", str(self.workspace)],
                                     env=self.env, cwd=REPO)
        wait_for(lambda: self.proc.poll() is None and requests.get(
            self.url + "/health", timeout=1).ok, timeout=60, message="service /health")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def agent_pid(self) -> int:
        return int((self.workspace / "agent.lock").read_text())

    def http(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=60, **kwargs)

    def submit(self, files: dict[str, str | bytes], script: str, arguments=(), experiment="exp",
               **config) -> dict:
        resp = self.http("POST", f"/experiments/{experiment}/runs",
                         files={"snapshot": ("s.tar.gz", make_snapshot(files))},
                         data={"config": json.dumps({"script": script,
                                                     "arguments": list(arguments), **config})})
        assert resp.status_code == 201, resp.text
        return resp.json()

    def run(self, run_id: str) -> dict:
        return self.http("GET", f"/runs/{run_id}").json()

    def wait_run(self, run_id: str, statuses=("Completed", "Failed", "Canceled"),
                 timeout: float = 120) -> dict:
        return wait_for(lambda: (r := self.run(run_id))["status"] in statuses and r,
                        timeout=timeout, message=f"run {run_id} to reach {statuses}")


@pytest.fixture
def service(tmp_path):
    svc = Service(tmp_path / "ws", free_port()).start()
    yield svc
    svc.stop()
