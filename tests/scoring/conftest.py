"""Fixtures for the scoring server: an iris model, tiny entry scripts, real gunicorn servers, and
ways to wait for a server's state (a gate that holds a worker inside run(), the kernel's view of
its sockets) instead of for a length of time."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from tests.polling import wait_for

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def free_port() -> int:
    """A port nobody listens on right now (bind port 0, read it, release it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_iris(model_dir: Path, name: str = "model.joblib") -> Path:
    """Fit SVC(kernel="linear") on iris (train_test_split random_state=0) and joblib.dump it."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC
    features, labels = load_iris(return_X_y=True)
    x_train, _, y_train, _ = train_test_split(features, labels, random_state=0)
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / name
    joblib.dump(SVC(kernel="linear").fit(x_train, y_train), path)
    return path


class Server:
    """One `python -m scoring` process on 127.0.0.1 (a subprocess, stopped by its PID)."""

    def __init__(self, workdir: Path, entry_script: str | Path, model_dir: str | Path | None = None,
                 workers: int = 1, env: dict[str, str] | None = None,
                 command: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"server-{self.port}.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("AZUREML_", "WORKER_", "AML_"))}
        environ.update(env or {})
        if command is not None:  # a peer server: its own command line, "{port}" filled in
            args = [part.replace("{port}", str(self.port)) for part in command]
        else:
            args = [sys.executable, "-m", "scoring", "--entry_script", str(entry_script),
                    "--port", str(self.port), "--worker_count", str(workers)]
            if model_dir is not None:
                args += ["--model_dir", str(model_dir)]
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(args, cwd=workdir, env=environ, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> "Server":
        """Poll GET / until it answers Healthy (fail early if the process exits)."""
        def healthy() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log}")
            return requests.get(self.url + "/", timeout=2).text == "Healthy"
        try:
            wait_for(healthy, timeout=timeout, message=f"scoring server on {self.url}")
        except AssertionError:
            self.stop()
            raise AssertionError(f"server did not start:\n{self.log}")
        return self

    def wait_exit(self, timeout: float = 90) -> int:
        """Wait for the process to end by itself; return its exit code."""
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def stop(self) -> None:
        """SIGTERM the gunicorn master we started (it stops its workers), SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()

    def post(self, body: bytes | str | dict, content_type: str | None = "application/json",
             headers: dict[str, str] | None = None) -> requests.Response:
        """POST /score with a JSON object or raw bytes."""
        all_headers = dict(headers or {})
        if content_type:
            all_headers["Content-Type"] = content_type
        if isinstance(body, dict):
            import json
            body = json.dumps(body)
        return requests.post(self.url + "/score", data=body, headers=all_headers, timeout=30)


@pytest.fixture(scope="session")
def iris_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """AZUREML_MODEL_DIR laid out as Azure does: azureml-models/<name>/<version>/model.joblib."""
    root = tmp_path_factory.mktemp("models")
    train_iris(root / "azureml-models" / "iris" / "1")
    return root


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers for one test; every one is stopped at the end."""
    started: list[Server] = []

    def start(entry_script: str | Path, model_dir: str | Path | None = None, **kwargs: object) -> Server:
        server = Server(tmp_path, entry_script, model_dir, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()


class Gate:
    """Holds one worker inside run() until the test lets it go, with no sleeping on either side.

    A script's run() reads the FIFO named by GATE_FIFO (scripts.GATED_PID): its open() blocks
    until the test opens the other end, and the test's open succeeds only while a run() is
    waiting there (hold()). Closing that end (release()) ends the read and run() goes on.
    """

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.env = {"GATE_FIFO": str(path)}
        self._fd: int | None = None

    def hold(self, timeout: float = 30) -> None:
        """Return once a run() waits at the gate; fail if none does within `timeout` seconds."""
        self._fd = wait_for(lambda: [os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)], timeout=timeout,
                            message=f"a run() waiting at {self.path.name}")[0]

    def release(self) -> None:
        """Let the run() held at the gate go on."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@pytest.fixture
def gate(tmp_path: Path, start_server: Callable[..., Server]) -> Iterator[Gate]:
    """A gate for one test; released at the end, before the test's servers are stopped."""
    opened = Gate(tmp_path / "gate")
    yield opened
    opened.release()


def _tcp_table() -> list[list[str]]:
    """Linux's IPv4 TCP sockets (/proc/net/tcp), one list of fields per socket."""
    return [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]


def _loopback(port: int) -> str:
    return f"0100007F:{port:04X}"


def listeners(port: int) -> list[int]:
    """For each socket listening on 127.0.0.1:port (SO_REUSEPORT lets several share it), how many
    connections wait in its queue to be accepted."""
    return [int(fields[4].split(":")[1], 16) for fields in _tcp_table()
            if fields[1] == _loopback(port) and fields[3] == "0A"]


def server_end(port: int, client: socket.socket) -> tuple[bool, int] | None:
    """The server's socket of `client`'s connection to 127.0.0.1:port, accepted or still queued:
    (established, bytes it holds unread), or None while it does not exist."""
    remote = _loopback(client.getsockname()[1])
    for fields in _tcp_table():
        if fields[1] == _loopback(port) and fields[2] == remote:
            return fields[3] == "01", int(fields[4].split(":")[1], 16)
    return None


@pytest.fixture
def write_script(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a tiny entry script into tmp_path and return its path."""
    def write(name: str, source: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        return path
    return write


def assert_error(response: requests.Response, status: int, *fragments: str) -> dict:
    """Every error: the status, JSON {"message", "request_id"}, the message naming what went wrong."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message", "request_id"}, body
    assert body["request_id"]
    for fragment in fragments:
        assert fragment in body["message"], body
    assert "Traceback" not in response.text
    return body


def connect(server: "Server") -> socket.socket:
    """A raw connection to a scoring server on 127.0.0.1."""
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def read_until_closed(sock: socket.socket, timeout: float = 20) -> bytes:
    """Everything the server sends until it closes the connection (fails if it never does)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received
