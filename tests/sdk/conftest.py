"""One real amlocal service for the SDK's tests, and a notebook folder that finds it the way a
user's does: config.json with an `amlocal` section (url, token)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, TOKEN, Service, free_port
from tests.sdk.notebook import Kernel

SAMPLES = REPO / "tests" / "samples" / "azure"


@pytest.fixture(scope="package")
def service(tmp_path_factory):
    """One service for every test of tests/sdk (started once, stopped by its PID)."""
    svc = Service(tmp_path_factory.mktemp("sdk") / "ws", free_port()).start()
    yield svc
    svc.stop()


def notebook_folder(service: Service, folder: Path, files: dict[str, Path] | None = None) -> Path:
    """A user's notebook folder: config.json naming the workspace and where amlocal runs."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"subscription_id": "0000-sub", "resource_group": "rg-local",
              "workspace_name": "ws-local", "amlocal": {"url": service.url, "token": TOKEN}}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    for name, source in (files or {}).items():
        shutil.copy(source, folder / name)
    return folder


@pytest.fixture
def kernel(monkeypatch):
    """A Kernel factory whose cells run in the notebook's folder (as Jupyter starts there)."""
    monkeypatch.delenv("AMLOCAL_URL", raising=False)
    monkeypatch.delenv("AMLOCAL_API_TOKEN", raising=False)

    def make(folder: Path) -> Kernel:
        monkeypatch.chdir(folder)
        return Kernel(folder)
    return make
