"""The docker target against a real engine (fails, never skips, without one): the ACI image."""
from __future__ import annotations

import pytest
import requests

from service.targets import docker_image
from tests.conftest import Service, assert_error, free_port
from tests.dockerengine import docker_engine  # noqa: F401  (a session fixture)
from tests.polling import wait_for
from tests.service.test_deployments_support import (iris_model, kill_leftovers, register_model,
                                                    score, wait_state)

pytestmark = pytest.mark.docker
COLD_BUILD_S = 600  # a cold build installs the scoring requirements with pip


@pytest.fixture
def svc(tmp_path, docker_engine):  # noqa: F811
    service = Service(tmp_path / "ws", free_port()).start(
        AMLOCAL_DOCKER_BASE_IMAGE=docker_engine.base_image)
    yield service
    service.stop()
    kill_leftovers(service.workspace)


def _runtime(svc, name: str) -> dict:
    from service.store import Store

    store = Store(svc.workspace / "amlocal.db")
    try:
        return store.get_deployment(name).runtime["serving"]
    finally:
        store.close()


def test_no_code_deploy_in_a_container_then_update_and_delete(svc):
    v1 = register_model(svc.workspace, "sklearn-iris", iris_model())
    v2 = register_model(svc.workspace, "sklearn-iris", iris_model("logistic"))
    resp = svc.http("POST", "/deployments", json={"name": "iris-docker", "models": [v1],
                                                  "deployment_config": {"target": "docker"}})
    assert resp.status_code == 202, resp.text
    dep = wait_state(svc, "iris-docker", timeout=COLD_BUILD_S)
    assert dep["state"] == "Healthy", (dep, svc.http("GET", "/deployments/iris-docker/logs").text)
    runtime = _runtime(svc, "iris-docker")
    images = {runtime["image"]}
    try:
        assert docker_image.container_state(runtime["container"]) == "running"
        assert score(dep["scoring_uri"]).json() == {"predict": [0, 2]}
        logs = svc.http("GET", "/deployments/iris-docker/logs?lines=100").text
        assert "ready for serving" in logs

        resp = svc.http("PATCH", "/deployments/iris-docker", json={"models": [v2]})
        assert resp.status_code == 202, resp.text
        updated = wait_state(svc, "iris-docker", timeout=COLD_BUILD_S)
        assert updated["served_generation"] == 2 and updated["scoring_uri"] == dep["scoring_uri"]
        new_runtime = _runtime(svc, "iris-docker")
        images.add(new_runtime["image"])
        wait_for(lambda: docker_image.container_state(runtime["container"]) == "missing",
                 timeout=60, message="the old generation's container to go")
        assert score(dep["scoring_uri"]).json() == {"predict": [0, 2]}

        assert svc.http("DELETE", "/deployments/iris-docker").status_code == 200
        assert docker_image.container_state(new_runtime["container"]) == "missing"
        with pytest.raises(requests.ConnectionError):
            score(dep["scoring_uri"])
        assert_error(svc.http("GET", "/deployments/iris-docker"), 404)
    finally:
        for tag in images:
            docker_image.remove_image(tag)


def test_a_container_whose_init_raises_is_failed_with_the_message(svc):
    from tests.service.test_deployments_support import INIT_RAISES

    model = register_model(svc.workspace, "sklearn-iris", iris_model())
    resp = svc.http("POST", "/deployments", json={
        "name": "broken-docker", "models": [model],
        "inference_config": {"entry_script": "score.py",
                             "source": {"files": {"score.py": INIT_RAISES}}},
        "deployment_config": {"target": "docker"}})
    assert resp.status_code == 202, resp.text
    dep = wait_state(svc, "broken-docker", timeout=COLD_BUILD_S)
    try:
        assert dep["state"] == "Failed", dep
        assert dep["error"] == "ValueError: the model file is corrupt: boom"
        logs = svc.http("GET", "/deployments/broken-docker/logs").text
        assert "Traceback" in logs and "corrupt: boom" in logs
        assert docker_image.container_state("amlocal-broken-docker-1") == "missing"
    finally:
        tag = next((line.split()[-1] for line in (svc.workspace / "deployments" / "broken-docker"
                                                  / "1" / "context" / ".amlocal-context")
                    .read_text().splitlines()), None)
        if tag:
            docker_image.remove_image(tag)
