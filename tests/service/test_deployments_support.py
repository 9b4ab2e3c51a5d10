"""Helpers for the deployment tests: registered iris models, waiting on states, cleanup."""
from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import joblib
import requests
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from tests.polling import wait_for

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
INIT_RAISES = ("def init():\n    raise ValueError('the model file is corrupt: boom')\n\n"
               "def run(data):\n    return data\n")


def iris_model(kind: str = "svc") -> bytes:
    """A fitted iris classifier, joblib-pickled."""
    X, y = load_iris(return_X_y=True)
    model = SVC(kernel="linear") if kind == "svc" else LogisticRegression(max_iter=500)
    buf = io.BytesIO()
    joblib.dump(model.fit(X, y), buf)
    return buf.getvalue()


def register_model(ws_root: Path, name: str, data: bytes, framework: str | None = "ScikitLearn",
                   filename: str = "model.joblib") -> str:
    """Register a model version through the registry's store verbs; returns 'name:version'."""
    from service.store import Store

    store = Store(Path(ws_root) / "amlocal.db")
    try:
        staged = store.new_stage()
        store.stage_file(staged, filename, io.BytesIO(data))
        version = store.register_model_version(
            name, staged, framework=framework,
            framework_version=sklearn.__version__ if framework else None,
            resource_configuration={"cpu": 1, "memory_in_gb": 0.5})
        return version.id
    finally:
        store.close()


def wait_state(svc, name: str, states=("Healthy", "Failed"), timeout: float = 60) -> dict:
    """Poll GET /deployments/<name> until its state is one of `states`."""
    def check():
        dep = svc.http("GET", f"/deployments/{name}").json()
        return dep if dep.get("state") in states else None
    return wait_for(check, timeout=timeout, message=f"deployment {name} to reach {states}")


def score(uri: str, rows=IRIS_ROWS, key: str | None = None, **body) -> requests.Response:
    """POST rows to a scoring URI (a fresh connection each time)."""
    headers = {"Connection": "close"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(uri, json={"data": rows, **body}, headers=headers, timeout=30)


def kill_leftovers(ws_root: Path) -> None:
    """Stop every scoring server a test's deployments left (they outlive the service on purpose).

    Local servers are found by their app root inside this workspace; containers by the runtime
    the store recorded."""
    marker = f"AML_APP_ROOT={Path(ws_root).resolve()}/".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            if any(v.startswith(marker) for v in environ) and os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue
    _remove_containers(Path(ws_root))


def _remove_containers(ws_root: Path) -> None:
    from service.store import Store
    from service.targets.docker import DockerTarget

    db = ws_root / "amlocal.db"
    if not db.exists():
        return
    store = Store(db)
    try:
        for dep in store.list_deployments():
            if dep.target == "docker":
                for generation in range(1, dep.generation + 1):
                    DockerTarget().kill_group({"container": f"amlocal-{dep.name}-{generation}"})
    finally:
        store.close()
