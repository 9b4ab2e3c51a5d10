"""Azure's own notebooks (tests/samples/azure, SOURCES.md), every code cell run in order with only
its azureml imports prefixed, against one real service. The cells that need Azure itself, and
what the test does there instead, are listed in tests/samples/azure/NOTEBOOKS.md."""
from __future__ import annotations

import re

import pytest

from tests.sdk.conftest import SAMPLES, notebook_folder
from tests.sdk.notebook import code_cells

LOGGING = SAMPLES / "logging-api" / "logging-api.ipynb"
LOCAL = SAMPLES / "deploy-to-local" / "register-model-deploy-local.ipynb"
SKLEARN = SAMPLES / "train-hyperparameter-tune-deploy-with-sklearn"
HYPERDRIVE = SKLEARN / "train-hyperparameter-tune-deploy-with-sklearn.ipynb"


def cell_with(cells: list[str], marker: str) -> int:
    found = [i for i, c in enumerate(cells) if marker in c]
    assert len(found) == 1, (marker, found)
    return found[0]


def test_logging_api_notebook(service, kernel, tmp_path, monkeypatch):
    """Interactive run (start_logging), every metric kind, an image, a file, tags, read back."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    k = kernel(notebook_folder(service, tmp_path / "logging-api"))
    for cell in code_cells(LOGGING):
        k.run(cell)
    out, ns = k.outputs, k.namespace
    run_id = ns["run_id"]
    cells = code_cells(LOGGING)
    assert out[cell_with(cells, "print('Workspace name: '")].startswith(
        "Workspace name: ws-local\nAzure region: local\nSubscription id: 0000-sub")
    assert out[cells.index("run")] == (f"Run(Experiment: logging-api-test,\nId: {run_id},\n"
                                       "Type: None,\nStatus: Running)\n")
    assert out[cells.index("experiment")] == "Experiment(Name: logging-api-test,\nWorkspace: ws-local)\n"
    metrics = ns["fetched_run"].get_metrics()
    assert metrics["Category"] == "Red" and metrics["Magic Number"] == 84
    assert metrics["Fibonacci"] == [0, 2, 2, 4, 6, 10, 16, 26, 42, 68, 110, 178]
    assert len(metrics["Sigmoid"]) == 20 and metrics["Sigmoid"][10] == 0.5
    assert len(metrics["Cosine Wave"]["cos"]) == 20 and len(metrics["Sine Wave"]["sine"]) == 20
    assert len(metrics["Accuracy"]["expected"]) == 1000 and len(metrics["Recall"]) == 15
    assert metrics["Hyperbolic Tangent"] == \
        f"aml://artifactId/ExperimentRun/dcid.{run_id}/Hyperbolic Tangent.png"
    assert out[cell_with(cells, 'get_metrics(name = "scale factor")')] == "{'scale factor': 2}\n"
    names = ns["fetched_run"].get_file_names()
    assert {"Hyperbolic Tangent.png", "logging-api/myfile.txt"} <= set(names)
    assert (tmp_path / "logging-api" / "files" / "myfile.txt").read_text() == \
        "This is an output file that will be uploaded.\n"
    assert (tmp_path / "logging-api" / "files" / "Hyperbolic Tangent.png").read_bytes()[:4] == \
        b"\x89PNG"
    assert ns["fetched_run"].get_tags() == {"My Favorite Run": None, "Competition Rank": "1"}
    assert ns["fetched_run"].get_status() == "Completed"


def test_register_model_deploy_local_notebook(service, kernel, tmp_path):
    """Model.register, Environment + CondaDependencies, score.py with InferenceConfig,
    LocalWebservice on port 6789, run, reload with a new score.py, update, delete. The AKS
    cells raise NotImplementedError naming the alternative (NOTEBOOKS.md)."""
    cells = code_cells(LOCAL)
    aks = [cell_with(cells, "AksCompute, ComputeTarget"), cell_with(cells, "AksWebservice")]
    aks_follow_ups = [cell_with(cells, "deploy_to_cloud"), cell_with(cells, "# Test aks service"),
                      cell_with(cells, "aks_service.delete()")]
    k = kernel(notebook_folder(service, tmp_path / "deploy-to-local"))
    for i, cell in enumerate(cells):
        if i in aks:
            with pytest.raises(NotImplementedError, match="is not mirrored by amlocal: .*"
                               "(compute_target='local'|LocalWebservice)"):
                k.run(cell)
            continue
        if i in aks_follow_ups:
            continue  # they use the AKS cluster and configuration the cells above would make
        k.run(cell)
    out, ns = k.outputs, k.namespace
    assert out[0] == "SDK version: 1.61.0+amlocal\n"
    assert ns["local_service"].port == 6789
    scored = [i for i, c in enumerate(cells)
              if c.rstrip().endswith("local_service.run(sample_input)") and "reload" not in c]
    first = eval(out[scored[0]])  # the list the cell shows
    assert len(first) == 2 and abs(first[0] - 206.0) < 30, first
    reloaded = out[cell_with(cells, "local_service.reload()")]
    assert "'Hello from the updated score.py: [" in reloaded
    assert "Local service port: 6789" in out[cell_with(cells, "Local service port")]
    assert out[cell_with(cells, "get_logs()")].strip()
    assert ns["local_service"].state == "Deleting"
    assert "test" not in ns["ws"].webservices


@pytest.fixture(scope="module")
def hyperdrive(service, tmp_path_factory):
    """The sklearn notebook run once, every cell unchanged: (kernel, cells). Its AmlCompute
    cluster becomes another name for amlocal's agent (NOTEBOOKS.md)."""
    from tests.sdk.notebook import Kernel
    folder = notebook_folder(service, tmp_path_factory.mktemp("sklearn"),
                             {"train_iris.py": SKLEARN / "train_iris.py"})
    cells = code_cells(HYPERDRIVE)
    k = Kernel(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.delenv("AMLOCAL_URL", raising=False)
        mp.delenv("AMLOCAL_API_TOKEN", raising=False)
        for cell in cells:
            k.run(cell)
    return k, cells


def test_sklearn_notebook_creates_its_cluster_as_a_name_for_the_agent(hyperdrive, service):
    k, cells = hyperdrive
    shown = k.outputs[next(i for i, c in enumerate(cells) if "AmlCompute.provisioning_configuration" in c)]
    assert "Creating a new compute target..." in shown and "'provisioningState': 'Succeeded'" in shown
    target = service.http("GET", "/computes/hd-cluster").json()
    assert target["type"] == "local" and "max_nodes" in target["description"]
    assert service.run(k.namespace["run"].id)["compute_target"] == "local"


def test_sklearn_notebook_trains_with_the_curated_stand_in(hyperdrive):
    k, cells = hyperdrive
    run = k.namespace["run"]
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"Kernel type": "linear", "Penalty": 1.0,
                                 "Accuracy": pytest.approx(0.9736842)}
    shown = k.outputs[cells.index("from azureml.widgets import RunDetails\n\nRunDetails(run).show()")]
    assert run.get_portal_url() in shown
    waited = k.outputs[cells.index("run.wait_for_completion(show_output=True)")]
    assert "Accuracy of SVM classifier on test set: 0.97" in waited and "Status: Completed" in waited


def test_sklearn_notebook_tunes_and_registers_the_best(hyperdrive):
    k, cells = hyperdrive
    hd, best, model = (k.namespace[n] for n in ("hyperdrive_run", "best_run", "model"))
    assert hd.id.startswith("HD_") and hd.get_status() == "Completed"
    assert re.fullmatch(r"Run\(Experiment: train_iris,\nId: HD_[0-9a-f-]{36},\nType: hyperdrive,\n"
                        r"Status: Completed\)", repr(hd))
    ranked = hd.get_children_sorted_by_primary_metric()
    assert len(ranked) == 12 and ranked[0]["run_id"] == best.id
    assert {c["status"] for c in ranked} == {"Completed"}
    assert len({tuple(sorted(c["hyperparameters"].items())) for c in ranked}) == 12
    assert ranked[0]["best_primary_metric"] == max(c["best_primary_metric"] for c in ranked)
    streamed = k.outputs[cells.index("hyperdrive_run.wait_for_completion(show_output=True)")]
    assert "Streaming azureml-logs/hyperdrive.txt" in streamed and "Status: Completed" in streamed
    assert all(f"{c['run_id']}: Completed " in streamed for c in ranked)
    arguments = k.outputs[cell_with(cells, "get_details()['runDefinition']['arguments']")]
    assert arguments.startswith("['--kernel', 'linear', '--penalty', '1.0', '--kernel', ")
    assert "outputs/model.joblib" in k.outputs[cell_with(cells, "best_run.get_file_names()")]
    assert (model.name, model.version, model.run_id) == ("sklearn-iris", model.version, best.id)
    assert set(hd.get_metrics()) == {c["run_id"] for c in ranked}
