"""`amlocal quickstart`: the whole loop on the embedded workspace, end to end."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import training

from .cli_runs import submit_source, wait_for_run
from .client import Client, ClientError
from .settings import load_settings
from .workspace import Workspace

EXPERIMENT = "train-iris"


def free_port(preferred: int = 5000) -> int:
    """`preferred` if nothing listens there, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return sock.getsockname()[1]
            except OSError:
                continue
    raise RuntimeError("no free port")


def start_service(workspace: Path, port: int) -> subprocess.Popen:
    """`amlocal serve` in the background."""
    return subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--workspace",
                             str(workspace), "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_healthy(client: Client, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode} while starting")
        try:
            client.health()
            return
        except ClientError:
            time.sleep(0.1)
    raise SystemExit("the service did not answer /health within 60 s")


def train_iris(client: Client) -> dict:
    """Submit training/train_iris.py as a tracked run and wait for it."""
    with tempfile.TemporaryDirectory(prefix="amlocal-iris-") as src:
        shutil.copy(Path(training.__file__).parent / "train_iris.py", src)
        run = submit_source(client, Path(src), "train_iris.py", EXPERIMENT, [])
    return wait_for_run(client, run)


def quickstart(workspace: str | None = None, port: int | None = None,
               keep_running: bool = False) -> int:
    """Start a service, run every step of the loop, print what a user looks at next."""
    settings = load_settings(workspace=workspace)
    port = port or free_port()
    print(f"amlocal quickstart: workspace {settings.workspace}, service on 127.0.0.1:{port}")
    proc = start_service(settings.workspace, port)
    try:
        os.environ.setdefault("AMLOCAL_WORKSPACE", str(settings.workspace))
        client = Client(f"http://127.0.0.1:{port}")
        wait_healthy(client, proc)
        client = Client(f"http://127.0.0.1:{port}",
                        token=Workspace(settings.workspace).token_path.read_text().strip())
        run = train_iris(client)
        if run["status"] != "Completed":
            return 1
        print("\nMetrics:")
        for name, value in client.metrics(run["id"]).items():
            print(f"  {name}: {value}")
        if keep_running:
            print(f"\nThe service keeps running at http://127.0.0.1:{port} (pid {proc.pid}).")
            return 0
        return 0
    finally:
        if not keep_running:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
