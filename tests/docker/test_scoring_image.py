"""The scoring image on the bare Debian base: both entries answer, images are reused, logs read."""
from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import requests

from service.targets import docker_image
from tests.docker.conftest import IRIS_ROWS, free_port
from tests.polling import wait_for

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def nocode(docker, iris_model_dir):
    """The no-code image for sklearn-iris:1 (its build log beside its context)."""
    ctx = docker.context([("sklearn-iris", 1, iris_model_dir)])
    return ctx, docker.build(ctx)


def inspect(ref: str) -> dict:
    """`docker inspect` of one image or container."""
    out = subprocess.run(["docker", "inspect", ref], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return json.loads(out)[0]


def test_nocode_container_answers_predict(docker, nocode):
    _, tag = nocode
    name, url = docker.run(tag)
    docker.wait_healthy(name, url)
    resp = requests.post(url + "/score", json={"data": IRIS_ROWS}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"predict": [0, 2]}
    assert requests.get(url + "/swagger.json", timeout=10).status_code == 200
    # The request is in `docker logs`, which is where the deployment's /logs come from.
    logs = wait_for(lambda: (text := docker_image.container_logs(name, 200)) and
                    "POST /score 200" in text and text, timeout=10, message="access line")
    assert "Listening at: http://127.0.0.1:" in logs
    cli = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=30)
    assert "POST /score 200" in cli.stdout + cli.stderr


def test_iris_score_py_container_answers_classes(docker, nocode, iris_model_dir):
    ctx = docker.context([("sklearn-iris", 1, iris_model_dir)], docker.repo_root / "scoring/score.py")
    tag = docker.build(ctx)
    assert tag != nocode[1]
    name, url = docker.run(tag)
    docker.wait_healthy(name, url)
    resp = requests.post(url + "/score", json={"data": IRIS_ROWS}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == [0, 2]


def test_image_follows_azure_layout_and_keeps_no_build_secrets(nocode):
    _, tag = nocode
    config = inspect(tag)["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/sklearn-iris/1"
    assert env["AZUREML_ENTRY_SCRIPT"] == "/var/azureml-app/nocode.py"
    assert env["AML_APP_ROOT"] == "/var/azureml-app" and config["WorkingDir"] == "/var/azureml-app"
    assert not any(key.startswith(("PIP_", "SSL_", "REQUESTS_")) for key in env), env
    assert config["Labels"]["amlocal.kind"] == "scoring"
    listing = subprocess.run(
        ["docker", "run", "--rm", "--network", "host", "--entrypoint", "sh", tag, "-c",
         "ls /var/azureml-app/azureml-models/sklearn-iris/1; ls /tmp/amlocal-build 2>&1; true"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    assert "model.joblib" in listing
    assert "No such file" in listing  # the CA bundle stayed in the build stage


def test_unchanged_context_reuses_its_image(docker, nocode, iris_model_dir, tmp_path):
    ctx, tag = nocode
    again = docker.context([("sklearn-iris", 1, iris_model_dir)])
    assert again.path != ctx.path and again.tag == tag
    image_id = inspect(tag)["Id"]
    log = tmp_path / "build.log"
    assert docker_image.build_image(again, log) == tag
    assert "reused without a build" in log.read_text()
    assert inspect(tag)["Id"] == image_id


def test_new_model_version_rebuilds_only_the_last_layers(docker, nocode, iris_model_dir):
    ctx = docker.context([("sklearn-iris", 2, iris_model_dir)])
    assert ctx.tag != nocode[1]
    docker.build(ctx)
    log = ctx.path.parent / f"{ctx.path.name}.log"
    steps = log.read_text().split("\nStep ")
    pip_step = next(step for step in steps if "pip install" in step)
    assert "Using cache" in pip_step, pip_step[-2000:]
    model_step = next(step for step in steps if step.startswith(tuple("0123456789"))
                      and "COPY models/" in step)
    assert "Using cache" not in model_step
    env = dict(item.split("=", 1) for item in inspect(ctx.tag)["Config"]["Env"])
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/sklearn-iris/2"


def test_failing_init_exits_and_its_reason_is_in_the_logs(docker, iris_model_dir, tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("def init():\n    raise RuntimeError('cannot load the model: disk on fire')\n"
                      "\ndef run(data):\n    return data\n")
    tag = docker.build(docker.context([("sklearn-iris", 1, iris_model_dir)], script))
    name, url = docker.run(tag)
    assert wait_for(lambda: docker_image.container_state(name) == "exited", timeout=90,
                    message="container exits")
    assert "disk on fire" in docker_image.container_logs(name, 500)
    with pytest.raises(AssertionError, match="exited"):
        docker.wait_healthy(name, url, timeout=5)


def test_container_lifecycle_states(docker, nocode):
    name, url = docker.run(nocode[1])
    assert name in docker_image.list_containers()
    docker.wait_healthy(name, url)
    assert docker_image.container_state(name) == "running"
    docker_image.remove_container(name, timeout=5)
    assert docker_image.container_state(name) == "missing"
    assert name not in docker_image.list_containers()
    docker_image.remove_container(name)  # removing twice is fine
    with pytest.raises(docker_image.ContainerNotFound):
        docker_image.container_logs(name, 10)
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/", timeout=2)  # the port is free again


def test_builds_on_a_base_that_already_has_python(docker, nocode, iris_model_dir):
    # No registry here to pull python:3.11-slim: stand in with the bare base plus Debian's Python
    # (the Dockerfile's own first stage), so the "python3 already present" branch is exercised.
    ctx, _ = nocode
    pybase = f"amlocal-test/pybase:{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "build", "--network", "host", "--target", "python-base",
                    "--build-arg", f"BASE_IMAGE={docker.base_image}", "-t", pybase, str(ctx.path)],
                   capture_output=True, text=True, timeout=600, check=True)
    docker.tags.add(pybase)
    slim_like = docker.context([("sklearn-iris", 1, iris_model_dir)], base_image=pybase)
    tag = docker.build(slim_like)
    log = (slim_like.path.parent / f"{slim_like.path.name}.log").read_text()
    first_run = log.split("\nStep 3/")[1].split("\nStep 4/")[0]
    assert "apt-get" in first_run and "Reading package lists" not in first_run  # skipped apt
    name, url = docker.run(tag)
    docker.wait_healthy(name, url)
    resp = requests.post(url + "/score", json={"data": IRIS_ROWS, "method": "predict"}, timeout=10)
    assert resp.json() == {"predict": [0, 2]}


def test_cpu_and_memory_limits_reach_the_container(docker, nocode):
    name = f"amlocal-test-{uuid.uuid4().hex[:8]}"
    docker.containers.add(name)
    port = free_port()
    docker_image.run_container(name, nocode[1], port, {"WORKER_COUNT": "1"}, cpus=0.5,
                               memory_gb=0.5, args=("--worker_count", "1"))
    host_config = inspect(name)["HostConfig"]
    assert host_config["NanoCpus"] == 500_000_000
    assert host_config["Memory"] == 512 * 1024 * 1024
    assert host_config["NetworkMode"] == "host"
    docker.wait_healthy(name, f"http://127.0.0.1:{port}")
    labels = inspect(name)["Config"]["Labels"]
    assert labels["amlocal.deployment"] == name and labels["amlocal.kind"] == "scoring"
