"""Azure's own training scripts (SOURCES.md), unchanged, as tracked runs of the real service: in an
environment without azureml-core (amlocal's stand-in `azureml` package answers their imports) and
with the real SDK (its Run.get_context() patched)."""
from __future__ import annotations

import io

import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from service.store import Store, Workspace
from tests.conftest import Service, free_port
from tests.samples.notebooks import SAMPLES

NO_SDK = "amlocal-sklearn-1.9"  # curated: scikit-learn, numpy, joblib; no azureml-core


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("training-samples") / "ws", free_port()).start()
    yield svc
    svc.stop()


def sample(folder: str, name: str) -> dict[str, bytes]:
    return {name: (SAMPLES / folder / name).read_bytes()}


def run_to_end(service: Service, files: dict, script: str, arguments=(), **config) -> dict:
    run = service.submit(files, script, arguments, experiment="azure-samples", **config)
    # The first run in the environment builds it (uv, from PyPI or its cache).
    return service.wait_run(run["id"], timeout=600)


def test_manage_runs_create_children(service):
    """manage-runs/hello_with_children.py: run.create_children(count=5); each child logs, completes."""
    run = run_to_end(service, sample("manage-runs", "hello_with_children.py"),
                     "hello_with_children.py", environment=NO_SDK)
    assert run["status"] == "Completed", run["error"]
    children = service.http("GET", f"/runs/{run['id']}/children").json()["children"]
    assert [c["run_id"] for c in children] == [f"{run['id']}_{i}" for i in range(5)]
    assert {c["status"] for c in children} == {"Completed"}
    for i, child in enumerate(children):
        record = service.run(child["run_id"])
        assert (record["parent_id"], record["tags"]) == (run["id"], {"azureml.batch_child_number": str(i)})
        metrics = service.http("GET", f"/runs/{child['run_id']}/metrics").json()["metrics"]
        assert metrics == {"Hello from child run ": i}


def test_pipeline_step_registers_its_model_from_inside_the_run(service):
    """intro-to-pipelines/register_model.py: Model.register(workspace=run.experiment.workspace,
    model_path='./model/') from inside the run; the model's files and lineage are the run's."""
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=300).fit(*load_iris(return_X_y=True)), buffer)
    files = {**sample("intro-to-pipelines", "register_model.py"), "saved/model.joblib": buffer.getvalue()}
    run = run_to_end(service, files, "register_model.py", ["--saved-model", "saved/model.joblib"],
                     environment=NO_SDK)
    assert run["status"] == "Completed", run["error"]
    model = service.http("GET", "/models/tf-dnn-mnist/versions/1").json()
    assert (model["run_id"], model["experiment"]) == (run["id"], "azure-samples")
    assert [f["path"] for f in model["files"]] == ["model/model.joblib"]
    names = [f["path"] for f in service.http("GET", f"/runs/{run['id']}/files").json()["files"]]
    assert "model/model.joblib" in names


def test_exact_sklearn_sample_fails_with_its_exception_as_the_reason(service):
    """The notebook's own train_iris.py calls np.str, which numpy 2 removed: the run's reason is
    the AttributeError, not the last line of its (multi-line) message."""
    run = run_to_end(service, sample("train-hyperparameter-tune-deploy-with-sklearn", "train_iris.py"),
                     "train_iris.py",
                     environment=NO_SDK)
    assert run["status"] == "Failed"
    assert run["error"]["message"].startswith(
        "AttributeError: module 'numpy' has no attribute 'str'."), run["error"]
    assert "Traceback (most recent call last):" in run["error"]["stderr_tail"]
    assert 'run.log(\'Kernel type\', np.str(args.kernel))' in run["error"]["stderr_tail"]


def test_train_on_amlcompute_with_the_real_sdk(service):
    """training/train-on-amlcompute/train.py under the service's own interpreter (real azureml-core):
    20 alphas logged as lists, 20 models kept in outputs/."""
    run = run_to_end(service, sample("train-on-amlcompute", "train.py"), "train.py")
    assert run["status"] == "Completed", run["error"]
    metrics = service.http("GET", f"/runs/{run['id']}/metrics").json()["metrics"]
    assert len(metrics["alpha"]) == len(metrics["mse"]) == 20
    names = [f["path"] for f in service.http("GET", f"/runs/{run['id']}/files").json()["files"]]
    assert sum(n.startswith("outputs/ridge_") for n in names) == 20
    model = joblib.load(io.BytesIO(service.http("GET", f"/runs/{run['id']}/files/outputs/ridge_0.50.pkl").content))
    assert type(model).__name__ == "Ridge"


# Not a sample: every part of the Run surface a script uses on itself, in both environments.
PROBE = '''
import json, os
from azureml.core import Dataset, Experiment, Model, Run, Workspace
from azureml.core.resource_configuration import ResourceConfiguration
from azureml.core.run import _OfflineRun
from azureml.exceptions import AzureMLException, UserErrorException

run = Run.get_context()
report = {"offline": isinstance(run, _OfflineRun), "inputs": run.input_datasets,
          "workspace": repr(run.experiment.workspace), "repr": repr(run)}
run.log("acc", 0.5)
with run.child_run(name="fold-0") as child:
    child.log("acc", 0.75)
    report["child parent"] = child.parent.id
    report["child status"] = child.get_status()
first, second = run.create_children(tag_key="fold", tag_values=["a", "b"])
first.log_list("losses", [3, 2, 1])
first.fail(error_details="diverged")
second.complete()
os.makedirs("outputs/plots", exist_ok=True)
with open("outputs/plots/roc.png", "wb") as handle:
    handle.write(b"png bytes")
run.log_image("roc", path="outputs/plots/roc.png")
os.makedirs("extra", exist_ok=True)
with open("extra/notes.txt", "w") as handle:
    handle.write("notes")
run.upload_folder("kept", "extra")
run.download_file("kept/notes.txt", "downloaded.txt")
report["downloaded"] = open("downloaded.txt").read()
report["files"] = run.get_file_names()
report["children"] = [(c.id, c.get_status(), c.tags) for c in run.get_children()]
report["failed children"] = [c.id for c in run.get_children(status="Failed")]
report["metrics"] = run.get_metrics(recursive=True)
details = run.get_details()
report["details"] = {k: details[k] for k in ("runId", "status", "target")}
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
joblib.dump(LogisticRegression(max_iter=300).fit(*load_iris(return_X_y=True)), "outputs/model.joblib")
model = run.register_model(model_name="probe-model", model_path="outputs/model.joblib",
                           model_framework=Model.Framework.SCIKITLEARN, model_framework_version="1.9",
                           resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5),
                           tags={"area": "iris"}, properties={"accuracy": "0.97"},
                           description="probe")
report["model"] = repr(model)
try:
    run.register_model(model_name="nope", model_path="outputs/missing.joblib")
except AzureMLException as err:
    report["missing path"] = f"{type(err).__name__}: {err}"
try:
    run.register_model(model_name="nope", model_path="outputs/model.joblib",
                       sample_input_dataset=object())
except UserErrorException as err:
    report["dataset"] = str(err)
try:
    Workspace.from_config()
except Exception as err:
    report["from_config"] = f"{type(err).__name__}: {err}"
print(json.dumps(report, indent=1))
run.upload_file("report.json", __import__("io").BytesIO(json.dumps(report).encode()))
'''


@pytest.mark.parametrize("environment", [NO_SDK, None], ids=["stand-in", "real-sdk"])
def test_the_run_surface_a_script_uses(service, environment):
    config = {"environment": environment} if environment else {}
    run = run_to_end(service, {"probe.py": PROBE}, "probe.py", **config)
    assert run["status"] == "Completed", run["error"]
    rid = run["id"]
    report = service.http("GET", f"/runs/{rid}/files/report.json").json()
    assert report["offline"] is False and report["inputs"] == {}
    assert report["workspace"] == "Workspace.create(name='amlocal', subscription_id='', resource_group='')"
    assert report["repr"] == f"Run(Experiment: azure-samples,\nId: {rid},\nType: azureml.scriptrun,\nStatus: Running)"
    assert (report["child parent"], report["child status"]) == (rid, "Running")
    assert report["children"] == [[f"{rid}_0", "Completed", {}], [f"{rid}_1", "Failed", {"fold": "a"}],
                                  [f"{rid}_2", "Completed", {"fold": "b"}]]
    assert report["failed children"] == [f"{rid}_1"]
    image = f"aml://artifactId/ExperimentRun/dcid.{rid}/roc.png"
    assert report["metrics"] == {rid: {"acc": 0.5, "roc": image}, f"{rid}_0": {"acc": 0.75},
                                 f"{rid}_1": {"losses": [3, 2, 1]}, f"{rid}_2": {}}
    assert report["downloaded"] == "notes"
    assert {"kept/notes.txt", "roc.png"} <= set(report["files"])
    assert report["details"] == {"runId": rid, "status": "Running", "target": "local"}
    assert report["model"].startswith("Model(workspace=Workspace.create(name='amlocal'")
    assert report["missing path"].startswith("ModelPathNotFoundException: ")
    assert "Could not locate the provided model_path outputs/missing.joblib" in report["missing path"]
    assert "sample_input_dataset not supported by amlocal" in report["dataset"]
    if environment:  # the stand-in says what to use instead; the real SDK tries Azure's config file
        assert report["from_config"].startswith("NotInAmlocal: Workspace.from_config needs Azure")
    model = service.http("GET", f"/models/probe-model/versions/{'1' if environment else '2'}").json()
    assert (model["run_id"], model["framework"], model["framework_version"]) == (rid, "ScikitLearn", "1.9")
    assert model["resource_configuration"] == {"cpu": 1, "memory_in_gb": 0.5, "gpu": None} or \
        model["resource_configuration"]["cpu"] == 1
    assert (model["tags"], model["properties"]["accuracy"]) == ({"area": "iris"}, "0.97")
    metrics = service.http("GET", f"/runs/{rid}/metrics").json()["metrics"]
    assert metrics == {"acc": 0.5, "roc": image}
    child = service.run(f"{rid}_1")
    assert child["error"]["message"] == "diverged"


# A run on another machine (a compute target) has no run folder: AMLOCAL_RUN_CHANNEL=http sends
# everything to the control API with the run's token. Here the run's own script starts bootstrap.py
# that way in another folder, as a compute target's node would.
REMOTE = '''
import os, subprocess, sys, tempfile
training = os.path.dirname(sys.modules["_amlocal_runcontext"].__file__)
node = tempfile.mkdtemp()
with open(os.path.join(node, "remote.py"), "w") as handle:
    handle.write("""
import os
from azureml.core import Run
run = Run.get_context()
run.log("remote_metric", 7)
run.tag("where", "node")
with run.child_run(name="part") as child:
    child.log("part_metric", 1)
os.makedirs("outputs", exist_ok=True)
open("outputs/remote.txt", "w").write("made on the node")
os.makedirs("logs", exist_ok=True)
open("logs/remote.log", "w").write("a log line")
raise KeyError("missing column")
""")
env = {k: v for k, v in os.environ.items() if k != "AMLOCAL_RUN_DIR"}
env["AMLOCAL_RUN_CHANNEL"] = "http"
done = subprocess.run([sys.executable, os.path.join(training, "bootstrap.py"), "remote.py"],
                      cwd=node, env=env, capture_output=True, text=True)
print("remote exit", done.returncode)
print(done.stderr)
'''


def test_a_remote_run_reports_over_http(service):
    run = run_to_end(service, {"outer.py": REMOTE}, "outer.py")
    assert run["status"] == "Completed", run["error"]
    rid = run["id"]
    log = service.http("GET", f"/runs/{rid}/logs").text
    assert "remote exit 1" in log and "KeyError: 'missing column'" in log
    assert service.http("GET", f"/runs/{rid}/metrics").json()["metrics"] == {"remote_metric": 7}
    assert service.run(rid)["tags"]["where"] == "node"
    assert service.http("GET", f"/runs/{rid}_0/metrics").json()["metrics"] == {"part_metric": 1}
    assert service.http("GET", f"/runs/{rid}/files/outputs/remote.txt").text == "made on the node"
    assert service.http("GET", f"/runs/{rid}/files/logs/remote.log").text == "a log line"
    # the script's exception is the run's requested end, which the compute target's launcher applies
    store = Store(Workspace(service.workspace).db_path)
    assert store.get_run(rid).requested_status == {
        "status": "Failed", "error": {"message": "KeyError: 'missing column'", "code": "UserError"}}
