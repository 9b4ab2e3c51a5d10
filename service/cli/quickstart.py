"""`amlocal quickstart`: the whole loop on the embedded workspace, end to end.

Patient on a busy machine: every wait polls against a deadline of minutes and every request may
take two; any failure ends as one QuickstartError line naming the step (no traceback).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import training
from service.settings import load_settings

from .client import Client, ClientError

EXPERIMENT = "train-iris"
MODEL = "sklearn-iris"
DEPLOYMENT = "scikit-learn-service"
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
START_S = 300.0      # the service answers /health
RUN_S = 1800.0       # training iris ends
DEPLOY_S = 900.0     # the deployment serves
REQUEST_S = 120.0    # any one request
STOP_S = 60.0        # SIGTERM → SIGKILL of the service at the end
POLL_S = 0.5


class QuickstartError(Exception):
    """A step that failed, and why, in one line."""


@contextmanager
def step(what: str, log: Path) -> Iterator[None]:
    """Any failure inside becomes one QuickstartError line naming the step and the log."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - the quickstart ends in one line, whatever failed
        why = (str(err) if isinstance(err, QuickstartError) else err.message
               if isinstance(err, ClientError) else f"{type(err).__name__}: {err}")
        raise QuickstartError(f"{what}: {why} (the service's log: {log})") from err


def free_port(preferred: int = 5000) -> int:
    """`preferred` if nothing listens there, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return sock.getsockname()[1]
            except OSError:
                continue
    raise QuickstartError("no free port on 127.0.0.1")


def start_service(workspace: Path, port: int, log: Path) -> subprocess.Popen:
    """`amlocal serve` in the background, its output in `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--workspace",
                                 str(workspace), "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT)


def wait_healthy(client: Client, proc: subprocess.Popen, timeout: float = START_S) -> None:
    """Poll /health until it answers, the service exits, or `timeout` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise QuickstartError(f"the service exited with {proc.returncode} while starting")
        try:
            client.health()
            return
        except ClientError as err:
            if time.monotonic() > deadline:
                raise QuickstartError(f"the service did not answer /health within "
                                      f"{timeout:g} s ({err.message})") from err
        time.sleep(POLL_S)


def train_iris(client: Client) -> dict:
    """Submit training/train_iris.py as a tracked run and wait for it (printing its log)."""
    with tempfile.TemporaryDirectory(prefix="amlocal-iris-") as src:
        shutil.copy(Path(training.__file__).parent / "train_iris.py", src)
        run = client.submit_source(Path(src), "train_iris.py", EXPERIMENT, [])
    run = client.wait_for_run(run, timeout=RUN_S)
    if run["status"] != "Completed":
        reason = (run.get("error") or {}).get("message", "see its log above")
        raise QuickstartError(f"run {run['id']} ended {run['status']}: {reason}")
    return run


def deploy_and_score(client: Client, model_id: str) -> str:
    """Deploy with no code on the local target, score two rows; returns the scoring URI."""
    dep = client.deploy_and_wait(DEPLOYMENT, [model_id], target="local", timeout=DEPLOY_S)
    print(f"Deployed {DEPLOYMENT} ({dep['state']}): scoring URI {dep.get('scoring_uri')}")
    if dep["state"] != "Healthy":
        why = dep.get("error") or f"not Healthy after {DEPLOY_S:g} s"
        raise QuickstartError(f"deployment {DEPLOYMENT} is {dep['state']}: {why}")
    answer = client.score(DEPLOYMENT, IRIS_ROWS)
    print(f"POST {dep['scoring_uri']} {{\"data\": {IRIS_ROWS}}} -> 200 {json.dumps(answer)}")
    return dep["scoring_uri"]


def quickstart(workspace: str | None = None, port: int | None = None,
               keep_running: bool = False) -> None:
    """Start a service, run every step of the loop, print what a user looks at next."""
    settings = load_settings(workspace=workspace)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"amlocal quickstart: workspace {settings.workspace}, service on 127.0.0.1:{port}")
    fd, log_name = tempfile.mkstemp(prefix="amlocal-quickstart-", suffix=".log")
    os.close(fd)
    log = Path(log_name)
    with step("starting the service", log):
        proc = start_service(settings.workspace, port, log)
    ok = False
    try:
        with step("starting the service", log):
            wait_healthy(Client(url, settings=settings, timeout=REQUEST_S), proc)
        client = Client(url, settings=settings, timeout=REQUEST_S)  # the token exists now
        with step("training iris", log):
            run = train_iris(client)
        with step("reading the run's metrics", log):
            print("\nMetrics:")
            for name, value in client.metrics(run["id"]).items():
                print(f"  {name}: {value}")
        with step("registering the model", log):
            model = client.register_from_run(run["id"], MODEL, framework="ScikitLearn",
                                             resource_configuration={"cpu": 1,
                                                                     "memory_in_gb": 0.5})
            estimator = model.get("estimator") or {}
            print(f"\nRegistered {model['id']}: {estimator.get('class', '?')}, "
                  f"{estimator.get('n_features_in', '?')} features, "
                  f"classes {estimator.get('classes')}")
        with step("deploying and scoring", log):
            scoring_uri = deploy_and_score(client, model["id"])
        if keep_running:
            print(f"\nThe service keeps running at {url} (pid {proc.pid}, its log {log}); "
                  f"{DEPLOYMENT} answers at {scoring_uri}.")
        else:
            with step("deleting the deployment", log):
                client.request("DELETE", f"/deployments/{DEPLOYMENT}", timeout=300)
            print(f"\nDone: {DEPLOYMENT} deleted and the service stopped. Rerun with "
                  "--keep-running to keep both up.")
        ok = True
    finally:
        if not keep_running:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if ok:
                log.unlink(missing_ok=True)
