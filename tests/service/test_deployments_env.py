"""Which Python a deployment scores in: own, pinned to the model's scikit-learn, or its env."""
from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import sklearn

from service.environments import build_scoring_environment, choose_scoring_environment
from tests.conftest import Service, free_port
from tests.service.test_deployments_support import iris_model, kill_leftovers, wait_state


def _model(version: str | None, packages: dict | None = None):
    return SimpleNamespace(id="m:1", framework="ScikitLearn", framework_version=version,
                           environment={"packages": packages} if packages else None)


def _names(spec) -> set[str]:
    from environments.spec import requirement_name
    return {requirement_name(r) for r in spec.pip_requirements()}


def test_a_model_trained_with_our_scikit_learn_scores_in_our_python():
    choice = choose_scoring_environment(None, {"models": ["m:1"]}, [_model(sklearn.__version__)])
    assert choice.spec is None and build_scoring_environment(
        choice, Path("/nonexistent"), Path("/nonexistent/log")) == (None, {})


def test_another_recorded_version_pins_scikit_learn_and_adds_the_scoring_stack():
    choice = choose_scoring_environment(None, {"models": ["m:1"]},
                                        [_model(None, {"scikit-learn": "1.5.2"})])
    assert "scikit-learn==1.5.2" in choice.spec.pip and "1.5.2" in choice.reason
    assert {"flask", "gunicorn", "inference-schema", "prometheus-client", "orjson",
            "joblib"} <= _names(choice.spec)


def test_a_custom_environment_keeps_its_pins_and_gains_what_scoring_needs():
    spec = {"models": ["m:1"], "inference_config": {
        "entry_script": "score.py",
        "environment": {"pip_requirements": "flask==3.0.3\nscikit-learn\n"}}}
    choice = choose_scoring_environment(None, spec, [_model(None)])
    assert "flask==3.0.3" in choice.spec.pip
    assert not any(r.startswith("flask>") for r in choice.spec.pip)
    assert {"gunicorn", "orjson", "scikit-learn"} <= _names(choice.spec)
    assert choice.requirements() == choice.spec.pip_requirements()


def test_a_version_that_cannot_be_built_fails_the_deployment_with_the_reason(tmp_path):
    from service.store import Store

    svc = Service(tmp_path / "ws", free_port()).start()
    try:
        store = Store(svc.workspace / "amlocal.db")
        staged = store.new_stage()
        store.stage_file(staged, "model.joblib", io.BytesIO(iris_model()))
        model = store.register_model_version("old-iris", staged, framework="ScikitLearn",
                                             framework_version="0.0.1")
        store.close()
        resp = svc.http("POST", "/deployments", json={"name": "old-iris", "models": [model.id]})
        assert resp.status_code == 202, resp.text
        dep = wait_state(svc, "old-iris", timeout=180)
        assert dep["state"] == "Failed"
        assert "Cannot build the scoring environment (scikit-learn 0.0.1" in dep["error"], dep
    finally:
        svc.stop()
        kill_leftovers(svc.workspace)
