"""The issue's seed flow ("Build scikit-learn models at scale"), imports prefixed and nothing else:
train as a tracked run, register with framework and resource configuration, deploy with no code,
score two iris rows. One real service; the objects print and fail as the SDK's do."""
from __future__ import annotations

import re

import pytest

from tests.conftest import REPO
from tests.sdk.conftest import notebook_folder

SEED = '''
import json
from azureml.core import Workspace, Experiment, Environment, ScriptRunConfig, Model
from azureml.core.resource_configuration import ResourceConfiguration
ws = Workspace.from_config()
myenv = Environment.from_conda_specification(name="myenv", file_path="sklearn-env.yml")
src = ScriptRunConfig(source_directory=".", script="train_iris.py")
src.run_config.environment = myenv
run = Experiment(ws, "train-sklearn").submit(config=src)
run.wait_for_completion(show_output=True)
model = run.register_model(model_name="sklearn-iris", model_path="outputs/model.joblib",
                           model_framework=Model.Framework.SCIKITLEARN, model_framework_version="1.0",
                           resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5))
service = Model.deploy(ws, "scikit-learn-service", [model])
service.wait_for_deployment(show_output=True)
print(service.run(json.dumps({"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})))
'''


@pytest.fixture(scope="module")
def seed(service, tmp_path_factory):
    """The seed run once for the module: (kernel namespace, what it printed)."""
    from tests.sdk.notebook import Kernel
    folder = notebook_folder(service, tmp_path_factory.mktemp("seed"), {
        "train_iris.py": REPO / "training" / "train_iris.py",
        "sklearn-env.yml": REPO / "environments" / "sklearn-env.yml"})
    kernel = Kernel(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.delenv("AMLOCAL_URL", raising=False)
        mp.delenv("AMLOCAL_API_TOKEN", raising=False)
        printed = kernel.run(SEED)
    yield kernel.namespace, printed
    kernel.namespace["service"].delete()


def test_the_seed_flow_prints_the_two_predictions(seed):
    _, printed = seed
    assert printed.rstrip().endswith("{'predict': [0, 2]}"), printed[-2000:]


def test_wait_for_completion_prints_what_azure_prints(seed):
    namespace, printed = seed
    run = namespace["run"]
    assert f"RunId: {run.id}\nWeb View: {run.get_portal_url()}\n" in printed
    assert "Streaming user_logs/std_log.txt\n===============================" in printed
    assert "Execution Summary\n=================\n" in printed and "Status: Completed" in printed
    # no deployment configuration: amlocal's local target (Azure would pick ACI)
    assert namespace["service"].compute_type == "Local"
    assert f"Local webservice is running at http://localhost:{namespace['service'].port}" in printed


def test_run_and_model_print_like_the_sdk(seed):
    namespace, _ = seed
    run, model, ws = namespace["run"], namespace["model"], namespace["ws"]
    assert re.fullmatch(r"Run\(Experiment: train-sklearn,\nId: train-sklearn_\d+_[0-9a-f]{8},\n"
                        r"Type: azureml\.scriptrun,\nStatus: Completed\)", repr(run)), repr(run)
    assert repr(ws) == ("Workspace.create(name='ws-local', subscription_id='0000-sub', "
                        "resource_group='rg-local')")
    version = model.version  # the sklearn notebook may have registered sklearn-iris first
    assert repr(model) == (f"Model(workspace={ws!r}, name=sklearn-iris, "
                           f"id=sklearn-iris:{version}, version={version}, tags={{}}, "
                           "properties={})")
    assert (model.model_framework, model.model_framework_version) == ("ScikitLearn", "1.0")
    assert model.resource_configuration.serialize() == {"cpu": 1, "memoryInGB": 0.5, "gpu": None}
    assert model.run_id == run.id and model.experiment_name == "train-sklearn"


def test_what_the_run_recorded_reads_back(seed, tmp_path):
    namespace, _ = seed
    run, ws = namespace["run"], namespace["ws"]
    assert run.get_status() == "Completed"
    assert run.get_metrics()["Accuracy"] == pytest.approx(0.9737, abs=1e-4)
    assert "outputs/model.joblib" in run.get_file_names()
    run.download_file("outputs/model.joblib", str(tmp_path / "m.joblib"))
    assert (tmp_path / "m.joblib").stat().st_size > 0
    details = run.get_details()
    assert details["runDefinition"]["script"] == "train_iris.py" and details["status"] == "Completed"
    assert [r.id for r in namespace["Experiment"](ws, "train-sklearn").get_runs()] == [run.id]
    assert "train-sklearn" in ws.experiments and "sklearn-iris" in ws.models
    assert ws.webservices["scikit-learn-service"].state == "Healthy"


def test_models_and_the_webservice_from_the_workspace(seed, tmp_path):
    import requests

    from amlocal.azureml.core import Model, Webservice
    namespace, _ = seed
    ws, model, service = namespace["ws"], namespace["model"], namespace["service"]
    again = Model(ws, "sklearn-iris", version=model.version)
    assert (again.id, again.run_id) == (model.id, model.run_id)
    assert model.id in [m.id for m in Model.list(ws, name="sklearn-iris")]
    assert Model(ws, id=model.id).version == model.version
    path = model.download(target_dir=str(tmp_path))
    assert path.endswith("model.joblib") and (tmp_path / "model.joblib").stat().st_size > 0
    found = Webservice(ws, "scikit-learn-service")
    assert type(found).__name__ == "LocalWebservice" and found.scoring_uri == service.scoring_uri
    assert requests.get(found.swagger_uri, timeout=30).json()["swagger"] == "2.0"
    assert found.get_logs().strip()
    with pytest.raises(NotImplementedError, match="Local web services do not support auth keys."):
        found.get_keys()
    from amlocal.azureml.exceptions import WebserviceException
    with pytest.raises(WebserviceException, match="Error: Scoring was unsuccessful."):
        found.run("{\"data\": [[1, 2]]}")  # the model takes four features


def test_errors_carry_azures_messages(seed, tmp_path):
    from amlocal.azureml.core import Experiment, Model
    from amlocal.azureml.exceptions import (ModelPathNotFoundException, UserErrorException,
                                            WebserviceException)
    namespace, _ = seed
    run, ws, model = namespace["run"], namespace["ws"], namespace["model"]
    with pytest.raises(ModelPathNotFoundException, match="Could not locate the provided "
                       "model_path outputs/nope.pkl in the set of files uploaded to the run"):
        run.register_model("x", "outputs/nope.pkl")
    with pytest.raises(WebserviceException, match="Error, provided model name is invalid"):
        run.register_model("-bad", "outputs/model.joblib")
    with pytest.raises(WebserviceException, match="Model framework version cannot be provided "
                       "without a valid framework"):
        run.register_model("x", "outputs/model.joblib", model_framework_version="1.0")
    with pytest.raises(UserErrorException, match="Experiment name must be between 1 and 255"):
        Experiment(ws, "no spaces")
    with pytest.raises(WebserviceException, match="Error, provided service name is invalid"):
        Model.deploy(ws, "Bad_Name", [model])
    with pytest.raises(WebserviceException, match="ModelNotFound: Model with name nope"):
        Model(ws, "nope")
    with pytest.raises(UserErrorException, match="You must provide an InferenceConfig when "
                       "deploying zero or multiple models."):
        Model.deploy(ws, "two-models", [model, model])
    with pytest.raises(NotImplementedError, match="azureml.core.model.Model.package is not "
                       "mirrored by amlocal"):
        Model.package(ws, [model])


def test_interactive_runs_are_started_and_ended_by_their_caller(service):
    """POST /experiments/<e>/interactive-runs (experiment.start_logging()): Running at once, no
    script; ended through POST /runs/<id>/status; a bad name or a taken id is refused."""
    from tests.conftest import assert_error
    made = service.http("POST", "/experiments/interactive/interactive-runs",
                        json={"run_id": "my-interactive-run", "tags": {"k": "v"}})
    assert made.status_code == 201, made.text
    run = made.json()
    assert (run["status"], run["kind"], run["script"], run["tags"]) == \
        ("Running", "interactive", "", {"k": "v"})
    assert_error(service.http("POST", "/experiments/interactive/interactive-runs",
                              json={"run_id": "my-interactive-run"}), 409, "run_id")
    assert_error(service.http("POST", "/experiments/no%20spaces/interactive-runs", json={}),
                 400, "experiment", "Experiment name must be between 1 and 255 characters")
    ended = service.http("POST", "/runs/my-interactive-run/status", json={"status": "Completed"})
    assert ended.status_code == 200 and ended.json()["status"] == "Completed"
    assert_error(service.http("POST", "/runs/my-interactive-run/metrics",
                              json={"metrics": [{"name": "a", "value": 1}]}), 409, "run_id")
