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

import requests

import training

from .cli_runs import submit_source, wait_for_run
from .client import Client, ClientError
from .settings import load_settings
from .workspace import Workspace

EXPERIMENT = "train-iris"
MODEL = "sklearn-iris"
DEPLOYMENT = "scikit-learn-service"
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


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


def register_deploy_score(client: Client, run_id: str) -> str | None:
    """Register the run's model, deploy it with no code on the local target, score two rows."""
    from .cli_deployments import deploy_and_wait
    from .cli_models import register_from_run

    model = register_from_run(client, run_id, MODEL, framework="ScikitLearn",
                              resource_configuration={"cpu": 1, "memory_in_gb": 0.5})
    estimator = model.get("estimator") or {}
    print(f"\nRegistered {model['id']}: {estimator.get('class', '?')}, "
          f"{estimator.get('n_features_in', '?')} features, classes {estimator.get('classes')}")
    dep = deploy_and_wait(client, DEPLOYMENT, [model["id"]], target="local")
    print(f"Deployed {DEPLOYMENT} ({dep['state']}): scoring URI {dep.get('scoring_uri')}")
    if dep["state"] != "Healthy":
        print(f"Deployment failed: {dep.get('error')}")
        return None
    answer = requests.post(dep["scoring_uri"], json={"data": IRIS_ROWS}, timeout=30)
    print(f"POST {dep['scoring_uri']} {{\"data\": {IRIS_ROWS}}} -> {answer.status_code} "
          f"{answer.text}")
    return dep["scoring_uri"] if answer.ok else None


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
        scoring_uri = register_deploy_score(client, run["id"])
        if scoring_uri is None:
            return 1
        if keep_running:
            print(f"\nThe service keeps running at http://127.0.0.1:{port} (pid {proc.pid}); "
                  f"{DEPLOYMENT} answers at {scoring_uri}.")
        else:
            client.request("DELETE", f"/deployments/{DEPLOYMENT}", timeout=120)
            print(f"\nDone: {DEPLOYMENT} deleted and the service stopped. Rerun with "
                  "--keep-running to keep both up.")
        return 0
    finally:
        if not keep_running:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
