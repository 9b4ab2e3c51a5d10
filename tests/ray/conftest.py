"""A real two-node Ray cluster on 127.0.0.1 (tests/raycluster.py) and a real amlocal service
that has it as compute target `ray-cluster`; both live for the module."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import Service, free_port
from tests.raycluster import RAY, RayCluster


@pytest.fixture(scope="module")
def ray_cluster():
    if not RAY.exists():
        pytest.fail(f"{RAY} is missing: pip install -e '.[test]' brings ray[default]")
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: socket path limits
    cluster = RayCluster(temp_dir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_service(tmp_path_factory, ray_cluster):
    """A real amlocal service with the cluster added as compute target `ray-cluster`."""
    svc = Service(tmp_path_factory.mktemp("ray-ws") / "ws", free_port()).start()
    try:
        resp = svc.http("POST", "/computes", json={"name": "ray-cluster", "type": "ray",
                                                   "address": ray_cluster.address})
        assert resp.status_code == 201, resp.text
        yield svc
    finally:
        svc.stop()
