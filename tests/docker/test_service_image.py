"""The control service image builds on the local base and serves /health on loopback."""
from __future__ import annotations

import subprocess
import uuid

import pytest
import requests

from service.targets import docker_image
from tests.docker.conftest import free_port
from tests.dockerengine import REPO_ROOT
from tests.polling import wait_for

pytestmark = pytest.mark.docker


def test_service_image_serves_health(docker, tmp_path):
    tag = f"amlocal-test/service:{uuid.uuid4().hex[:8]}"
    docker.tags.add(tag)
    log = tmp_path / "build.log"
    with log.open("w") as out:
        built = subprocess.run(["bash", str(REPO_ROOT / "docker/build-service-image.sh"), tag,
                                docker.base_image], stdout=out, stderr=subprocess.STDOUT,
                               timeout=580, check=False)
    assert built.returncode == 0, log.read_text()[-3000:]
    name, port = f"amlocal-test-svc-{uuid.uuid4().hex[:8]}", free_port()
    docker.containers.add(name)
    subprocess.run(["docker", "run", "-d", "--name", name, "--network", "host", tag,
                    "--host", "127.0.0.1", "--port", str(port)],
                   capture_output=True, text=True, timeout=60, check=True)

    def health():
        if docker_image.container_state(name) != "running":
            return "exited"
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
    body = wait_for(health, timeout=60, interval=0.2, message="service /health")
    assert body != "exited", docker_image.container_logs(name, 50)
    assert body["status"] == "ok"
