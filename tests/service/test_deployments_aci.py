"""ACI offline: the real azureml-core objects are built; a recording backend checks every argument.

Azure cannot be reached from here, so the calls stop at the one interface (`AzureBackend`). The
live test at the end runs only when Azure credentials are configured.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from scoring import IRIS_ENTRY_SCRIPT
from service.deployments import build_spec, create, resolve_models
from service.settings import load_settings
from service.targets.aci import AciTarget, AzureMLBackend, execute, plan_deployment
from tests.polling import wait_for
from tests.service.test_deployments_support import iris_model, register_model

KEYS = ("p" * 32, "s" * 32)
# azureml-core warns when it is imported, and its vendored ruamel.yaml when it reads a conda file;
# only those are allowed here.
pytestmark = [pytest.mark.filterwarnings("ignore:FileType Enum is Deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]


class RecordingBackend:
    """An AzureBackend that records each call and answers as a successful ACI deployment."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def register_model(self, model_base: Path, **kwargs):
        self.calls.append(("Model.register", {"model_base": model_base, **kwargs}))
        assert (Path(model_base) / kwargs["model_path"]).exists()
        return f"registered:{kwargs['model_name']}"

    def deploy(self, name, models, inference_config, deployment_config, overwrite):
        self.calls.append(("Model.deploy", dict(name=name, models=models,
                                                inference_config=inference_config,
                                                deployment_config=deployment_config,
                                                overwrite=overwrite)))
        return f"service:{name}"

    def wait(self, service, timeout_s):
        self.calls.append(("wait", {"service": service}))
        return {"state": "Healthy", "scoring_uri": "http://abc.westeurope.azurecontainer.io/score",
                "swagger_uri": "http://abc.westeurope.azurecontainer.io/swagger.json"}

    def get_keys(self, service):
        self.calls.append(("get_keys", {"service": service}))
        return KEYS

    def delete(self, name):
        self.calls.append(("delete", {"name": name}))


@pytest.fixture
def store(app):
    return app.config["STORE"]


@pytest.fixture
def ws(app):
    return app.config["WORKSPACE"]


def _plan(store, ws, models, inference_config=None, keys=None, **config):
    body_config = {"cpu_cores": None, "memory_gb": None, "worker_count": 1, **config}
    spec = build_spec(store, models, inference_config, body_config)
    return plan_deployment("iris-aci", spec, resolve_models(store, models), ws.root / "models",
                           keys)


def test_no_code_aci_deployment_sends_exactly_these_arguments(store, ws):
    from azureml.core.resource_configuration import ResourceConfiguration
    from azureml.core.webservice.aci import AciServiceDeploymentConfiguration

    model = register_model(ws.root, "sklearn-iris", iris_model())
    plan = _plan(store, ws, [model])
    backend = RecordingBackend()
    outcome = execute(plan, backend)
    plan.cleanup()
    (register, reg_args), (deploy, dep_args), (wait, _) = backend.calls
    assert (register, deploy, wait) == ("Model.register", "Model.deploy", "wait")
    rc = reg_args.pop("resource_configuration")
    assert isinstance(rc, ResourceConfiguration)
    assert rc.serialize() == {"cpu": 1, "memoryInGB": 0.5, "gpu": None}
    import sklearn
    assert reg_args == {"model_base": ws.root / "models",
                        "model_path": "sklearn-iris/1/model.joblib", "model_name": "sklearn-iris",
                        "model_framework": "ScikitLearn",
                        "model_framework_version": sklearn.__version__,
                        "tags": {"amlocal.model_id": "sklearn-iris:1"}, "description": None}
    config = dep_args.pop("deployment_config")
    assert isinstance(config, AciServiceDeploymentConfiguration)
    assert (config.cpu_cores, config.memory_gb, config.auth_enabled) == (1, 0.5, False)
    assert config.primary_key is None and config.secondary_key is None
    assert dep_args == {"name": "iris-aci", "models": ["registered:sklearn-iris"],
                        "inference_config": None, "overwrite": False}
    assert outcome["scoring_uri"].endswith(".azurecontainer.io/score")


def test_custom_aci_deployment_sends_an_inference_config_with_a_conda_environment(store, ws):
    from azureml.core import Environment
    from azureml.core.model import InferenceConfig

    model = register_model(ws.root, "sklearn-iris", iris_model())
    source = {"entry_script": "score.py",
              "source": {"files": {"score.py": Path(IRIS_ENTRY_SCRIPT).read_text()}}}
    plan = _plan(store, ws, [model], source, keys=KEYS, cpu_cores=2, memory_gb=1.5)
    backend = RecordingBackend()
    try:
        outcome = execute(plan, backend)
        dep_args = backend.calls[1][1]
        config = dep_args["inference_config"]
        assert isinstance(config, InferenceConfig)
        assert config.entry_script == "score.py"
        assert Path(config.source_directory, "score.py").read_text() == \
            Path(IRIS_ENTRY_SCRIPT).read_text()
        assert isinstance(config.environment, Environment)
        assert config.environment.name == "iris-aci-env"
        conda = config.environment.python.conda_dependencies
        assert set(conda.pip_packages) >= {"scikit-learn>=1.3", "joblib>=1.3", "azureml-defaults"}
        assert "python=3.11" in conda.conda_packages
        aci = dep_args["deployment_config"]
        assert (aci.cpu_cores, aci.memory_gb, aci.auth_enabled) == (2, 1.5, True)
        assert (aci.primary_key, aci.secondary_key) == KEYS
        assert backend.calls[-1][0] == "get_keys" and outcome["keys"] == list(KEYS)
        described = plan.describe()
        assert described["InferenceConfig"]["entry_script"] == "score.py"
        assert described["AciWebservice.deploy_configuration"]["primary_key"] == "***"
    finally:
        plan.cleanup()


def test_the_reconciler_deploys_to_aci_through_the_backend(app, store, ws):
    from service.agent.reconciler import DeploymentReconciler

    model = register_model(ws.root, "sklearn-iris", iris_model())
    backend = RecordingBackend()
    reconciler = DeploymentReconciler(store, ws, app.config["SETTINGS"],
                                      targets={"aci": AciTarget(lambda: backend)})
    create(store, {"name": "iris-aci", "models": [model], "inference_config": None,
                   "overwrite": False, "deployment_config": {
                       "target": "aci", "auth_enabled": False, "port": None,
                       "worker_count": 1, "cpu_cores": None, "memory_gb": None}})

    def healthy():
        reconciler.tick()
        return store.get_deployment("iris-aci").state == "Healthy"
    wait_for(healthy, timeout=30, message="ACI deployment Healthy")
    dep = store.get_deployment("iris-aci")
    assert dep.scoring_uri == "http://abc.westeurope.azurecontainer.io/score"
    assert [c[0] for c in backend.calls] == ["Model.register", "Model.deploy", "wait"]
    # an agent restart adopts the ACI service: nothing is sent again
    restarted = DeploymentReconciler(store, ws, app.config["SETTINGS"],
                                     targets={"aci": AciTarget(lambda: backend)})
    for _ in range(3):
        restarted.tick()
    for thread in list(restarted.ops.values()):
        thread.join(timeout=30)
    assert len(backend.calls) == 3 and store.get_deployment("iris-aci").state == "Healthy"
    reconciler = restarted
    store.request_delete("iris-aci")

    def gone():
        reconciler.tick()
        return not store.list_deployments()
    wait_for(gone, timeout=30, message="ACI deployment deleted")
    assert backend.calls[-1] == ("delete", {"name": "iris-aci"})


def test_dry_run_prints_what_would_be_sent_and_stores_nothing(client, app, ws):
    model = register_model(ws.root, "sklearn-iris", iris_model())
    resp = client.post("/deployments", json={"name": "iris-aci", "models": [model],
                                             "deployment_config": {"target": "aci"},
                                             "dry_run": True})
    assert resp.status_code == 200, resp.get_json()
    plan = resp.get_json()["dry_run"]
    assert plan["Model.register"][0]["model_framework"] == "ScikitLearn"
    assert plan["Model.register"][0]["resource_configuration"]["memoryInGB"] == 0.5
    assert plan["Model.deploy"]["inference_config"] is None
    assert app.config["STORE"].list_deployments() == []


@pytest.mark.skipif(not (Path("config.json").exists() or os.environ.get(
    "AMLOCAL_AZURE_CLIENT_SECRET")), reason="live ACI needs Azure credentials (config.json or "
                                            "AMLOCAL_AZURE_* variables)")
def test_live_workspace_connects():  # pragma: no cover - needs Azure
    assert AzureMLBackend.from_settings(load_settings()).workspace is not None
