"""What the control-service benchmarks share: a real `amlocal serve` on 127.0.0.1, snapshots.

Run the benchmarks as modules from the repository root (`python -m bench.control.run`) so this
module is importable.
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def snapshot(files: dict[str, str]) -> bytes:
    """A .tar.gz holding `files` (path → text)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class BenchService:
    """`amlocal serve` on a temporary workspace; a context manager that stops it by PID."""

    def __init__(self, **env: str):
        self.port, self.workspace = free_port(), tempfile.mkdtemp(prefix="amlocal-bench-")
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "AMLOCAL_API_TOKEN": TOKEN, **env}
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "BenchService":
        self.proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port",
                                      str(self.port), "--workspace", self.workspace],
                                     env=self.env, cwd=REPO, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: requests.get(self.url + "/health", timeout=5).ok, 60, "the service")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        shutil.rmtree(self.workspace, ignore_errors=True)


def wait_for(condition, timeout: float, what: str):
    """Poll `condition` until it returns something truthy, or exit at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except requests.RequestException:  # not listening yet, or slow on a loaded machine
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")
