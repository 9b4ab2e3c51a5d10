"""The local target against a real service: no-code and custom deployments, failures, restarts."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests

from scoring import IRIS_ENTRY_SCRIPT
from tests.conftest import assert_error
from tests.polling import wait_for
from tests.service.test_deployments_support import (INIT_RAISES, iris_model, register_model, score,
                                                    wait_state)


def deploy(svc, name: str, models, **extra) -> dict:
    resp = svc.http("POST", "/deployments", json={"name": name, "models": models, **extra})
    assert resp.status_code == 202, resp.text
    assert resp.json()["state"] == "Transitioning"
    return resp.json()


def iris_source() -> dict:
    return {"entry_script": "score.py",
            "source": {"files": {"score.py": Path(IRIS_ENTRY_SCRIPT).read_text()}}}


def test_no_code_deploy_answers_predictions_then_delete_frees_the_port(svc):
    model = register_model(svc.workspace, "sklearn-iris", iris_model())
    deploy(svc, "iris-svc", [model], deployment_config={"max_batch_rows": 64, "max_latency_ms": 5})
    dep = wait_state(svc, "iris-svc")
    assert dep["state"] == "Healthy", dep
    assert dep["scoring_uri"] == f"http://127.0.0.1:{dep['port']}/score"
    assert dep["swagger_uri"].endswith("/swagger.json") and dep["compute_type"] == "Local"
    assert dep["models"] == ["sklearn-iris:1"] and dep["cpu_cores"] == 1
    resp = score(dep["scoring_uri"])
    assert resp.status_code == 200 and resp.json() == {"predict": [0, 2]}
    assert requests.get(dep["swagger_uri"], timeout=10).status_code == 200
    app_root = svc.workspace / "deployments" / "iris-svc" / "1" / "azureml-app"
    assert (app_root / "azureml-models" / "sklearn-iris" / "1" / "model.joblib").is_file()
    listed = svc.http("GET", "/deployments").json()["deployments"]
    assert [d["name"] for d in listed] == ["iris-svc"]
    logs = svc.http("GET", "/deployments/iris-svc/logs?lines=50")
    assert logs.status_code == 200 and "ready for serving" in logs.text
    assert dep["max_batch_rows"] == 64 and "at most 64 rows, 5 ms gathering" in logs.text

    resp = svc.http("DELETE", "/deployments/iris-svc")
    assert resp.status_code == 200, resp.text
    assert_error(svc.http("GET", "/deployments/iris-svc"), 404, field="name")
    with pytest.raises(requests.ConnectionError):
        score(dep["scoring_uri"])
    assert not (svc.workspace / "deployments" / "iris-svc").exists()


def test_custom_deployment_with_the_iris_score_py(svc):
    model = register_model(svc.workspace, "sklearn-iris", iris_model())
    deploy(svc, "iris-custom", [model], inference_config=iris_source(),
           deployment_config={"worker_count": 2})
    dep = wait_state(svc, "iris-custom")
    assert dep["state"] == "Healthy" and dep["entry_script"] == "score.py", dep
    resp = score(dep["scoring_uri"])
    assert resp.status_code == 200 and resp.json() == [0, 2]


def test_custom_deployment_from_a_runs_snapshot(svc):
    model = register_model(svc.workspace, "sklearn-iris", iris_model())
    run = svc.submit({"src/score.py": Path(IRIS_ENTRY_SCRIPT).read_text(),
                      "train.py": "print('trained')"}, "train.py")
    deploy(svc, "iris-from-run", [model], inference_config={
        "entry_script": "src/score.py", "source": {"run_id": run["id"]}})
    dep = wait_state(svc, "iris-from-run")
    assert dep["state"] == "Healthy", dep
    assert score(dep["scoring_uri"]).json() == [0, 2]


def test_init_that_raises_is_failed_with_its_message(svc):
    model = register_model(svc.workspace, "sklearn-iris", iris_model())
    deploy(svc, "broken", [model], inference_config={
        "entry_script": "score.py", "source": {"files": {"score.py": INIT_RAISES}}})
    dep = wait_state(svc, "broken")
    assert dep["state"] == "Failed"
    assert dep["error"] == "ValueError: the model file is corrupt: boom"
    assert dep["scoring_uri"] is None
    logs = svc.http("GET", "/deployments/broken/logs").text
    assert "Traceback" in logs and "the model file is corrupt: boom" in logs


def _serving_pid(svc, name: str) -> int:
    from service.store import Store

    store = Store(svc.workspace / "amlocal.db")
    try:
        return store.get_deployment(name).runtime["serving"]["pid"]
    finally:
        store.close()


def test_a_killed_server_is_unhealthy_then_healthy_again(svc):
    model = register_model(svc.workspace, "sklearn-iris", iris_model())
    deploy(svc, "iris-crash", [model])
    dep = wait_state(svc, "iris-crash")
    pid = _serving_pid(svc, "iris-crash")
    os.kill(pid, signal.SIGKILL)
    wait_state(svc, "iris-crash", states=("Unhealthy",), timeout=10)
    again = wait_state(svc, "iris-crash", states=("Healthy",), timeout=60)
    assert again["scoring_uri"] == dep["scoring_uri"]
    assert _serving_pid(svc, "iris-crash") != pid
    assert score(dep["scoring_uri"]).json() == {"predict": [0, 2]}


def test_restarting_the_service_keeps_deployments_healthy_on_the_same_uri(svc):
    model = register_model(svc.workspace, "sklearn-iris", iris_model())
    deploy(svc, "iris-keep", [model])
    dep = wait_state(svc, "iris-keep")
    pid = _serving_pid(svc, "iris-keep")
    svc.stop()
    assert score(dep["scoring_uri"]).json() == {"predict": [0, 2]}  # it outlives the service
    svc.start()
    wait_for(lambda: (d := svc.http("GET", "/deployments/iris-keep").json())["state"] == "Healthy"
             and d, timeout=30, message="Healthy after restart")
    assert _serving_pid(svc, "iris-keep") == pid  # adopted, not restarted
    assert score(dep["scoring_uri"]).json() == {"predict": [0, 2]}
