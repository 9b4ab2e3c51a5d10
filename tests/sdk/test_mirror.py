"""amlocal.azureml without a service: the one edit, what is not mirrored, configurations and their
messages, finding the service."""
from __future__ import annotations

import json

import pytest

from amlocal.config import find_service
from tests.sdk.notebook import prefix_imports


def test_the_one_edit_touches_only_azureml_imports():
    source = ("import azureml.core\nfrom azureml.core import Workspace\n"
              "    from azureml.core.model import Model\nimport azureml.core as core\n"
              "x = 'from azureml.core import Run'\nimport numpy as np\n")
    assert prefix_imports(source) == (
        "from amlocal import azureml\nfrom amlocal.azureml.core import Workspace\n"
        "    from amlocal.azureml.core.model import Model\nimport amlocal.azureml.core as core\n"
        "x = 'from azureml.core import Run'\nimport numpy as np\n")
    namespace: dict = {}
    exec(prefix_imports("import azureml.core\nversion = azureml.core.VERSION"), namespace)
    assert namespace["version"].endswith("+amlocal")


@pytest.mark.parametrize("code, what", [
    ("from amlocal.azureml.pipeline.core import Pipeline", "azureml.pipeline.core.Pipeline"),
    ("from amlocal.azureml.core import Dataset", "azureml.core.Dataset"),
    ("from amlocal.azureml.core import Model; Model.package", "azureml.core.model.Model.package"),
    ("from amlocal.azureml.core.webservice import AksWebservice; "
     "AksWebservice.deploy_configuration()", "AksWebservice"),
    ("from amlocal.azureml.core import Environment; Environment.from_docker_image('e', 'i')",
     "Environment.from_docker_image"),
    ("from amlocal.azureml.core import ScriptRunConfig; ScriptRunConfig('.', command='ls')",
     "ScriptRunConfig(command=...)"),
    ("from amlocal.azureml.core import Run; Run.get_context()", "Run.get_context()"),
    ("from amlocal.azureml.core.compute import ComputeTarget, AksCompute; "
     "ComputeTarget.create(None, 'c', AksCompute.provisioning_configuration())",
     "ComputeTarget.create"),
], ids=["module", "name", "method", "aks", "docker-env", "command", "offline-run", "compute"])
def test_what_is_not_mirrored_says_so(code, what):
    with pytest.raises(NotImplementedError, match="is not mirrored by amlocal") as err:
        exec(code, {})
    assert what in str(err.value)


def test_private_names_stay_attribute_errors():
    from amlocal.azureml.core import Model
    assert not hasattr(Model, "_repr_html_") and not hasattr(Model, "__wrapped__")


@pytest.mark.parametrize("make, message", [
    ("AciWebservice.deploy_configuration(cpu_cores=0)",
     "Invalid configuration, cpu_cores must be positive."),
    ("AciWebservice.deploy_configuration(memory_gb=-1)",
     "Invalid configuration, memory_gb must be positive."),
    ("LocalWebservice.deploy_configuration(port=70000)",
     "Invalid configuration, port must be an integer in range [1, 65535]"),
    ("LocalWebservice.deploy_configuration(amlocal_max_batch_rows=0)",
     "Invalid configuration, amlocal_max_batch_rows must be a positive integer."),
    ("ResourceConfiguration(cpu=0)", "Invalid configuration, cpu must be greater than zero."),
    ("InferenceConfig()", "Error, need to specify entry_script."),
    ("InferenceConfig(entry_script='score.txt')",
     "Invalid driver type. Currently only Python drivers are supported."),
    ("PrimaryMetricGoal.from_str('up')",
     "The primary metric goal expects either 'maximize' or 'minimize'."),
    ("HyperDriveConfig(RandomParameterSampling({}), 'a', 'maximize', 1)",
     "HyperDriveConfig expects at least one of estimator, run_config, pipeline to be set"),
    ("choice()", "Please specify an input for choice."),
], ids=lambda v: v.split("(")[0] if "(" in v else None)
def test_azure_messages(make, message):
    namespace: dict = {}
    exec("from amlocal.azureml.core.webservice import AciWebservice, LocalWebservice\n"
         "from amlocal.azureml.core.resource_configuration import ResourceConfiguration\n"
         "from amlocal.azureml.core.model import InferenceConfig\n"
         "from amlocal.azureml.train.hyperdrive import *\n", namespace)
    with pytest.raises(Exception) as err:
        eval(make, namespace)
    assert str(err.value) == message


def test_a_hyperdrive_config_is_a_sweep_body(tmp_path):
    from amlocal.azureml.core import Environment, ScriptRunConfig
    from amlocal.azureml.train.hyperdrive import (BanditPolicy, GridParameterSampling,
                                                  HyperDriveConfig, PrimaryMetricGoal, choice,
                                                  uniform)
    (tmp_path / "pip.txt").write_text("scikit-learn\n")
    src = ScriptRunConfig(str(tmp_path), "train.py", arguments=["--penalty", 1.0],
                          environment=Environment.from_pip_requirements("e", tmp_path / "pip.txt"))
    config = HyperDriveConfig(run_config=src, primary_metric_name="Accuracy",
                              primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                              hyperparameter_sampling=GridParameterSampling(
                                  {"--kernel": choice("linear", "rbf"), "--c": uniform(0, 1)}),
                              policy=BanditPolicy(slack_factor=0.1), max_total_runs=4)
    assert config._body() == {
        "script": "train.py", "arguments": ["--penalty", "1.0"],
        "environment": {"pip_requirements": "scikit-learn\n"},
        "sampling": {"type": "grid", "space": {"--kernel": ["choice", [["linear", "rbf"]]],
                                               "--c": ["uniform", [0, 1]]}},
        "primary_metric": {"name": "Accuracy", "goal": "maximize"}, "max_total_runs": 4,
        "max_concurrent_runs": 4, "max_duration_minutes": 10080,
        "policy": {"type": "bandit", "evaluation_interval": 1, "delay_evaluation": 0,
                   "slack_factor": 0.1}}


def test_conda_dependencies_serialise_as_a_conda_file():
    from amlocal.azureml.core import Environment
    env = Environment("LocalDeploy")
    env.python.conda_dependencies.add_pip_package("joblib")
    env.python.conda_dependencies.add_pip_package("scikit-learn==1.5.2")
    env.python.conda_dependencies.add_pip_package("scikit-learn==1.9.1")  # replaces, as Azure
    assert env._reference() == {"conda_spec": "name: project_environment\nchannels:\n"
                                "- conda-forge\ndependencies:\n- pip\n- pip:\n  - joblib\n"
                                "  - scikit-learn==1.9.1\n"}


def test_finding_the_service(tmp_path, monkeypatch):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "api-token").write_text("from-the-workspace\n")
    assert find_service({}, {"AMLOCAL_WORKSPACE": str(tmp_path / "ws")}) == \
        find_service({"workspace": str(tmp_path / "ws")}, {})
    found = find_service({"url": "http://127.0.0.1:1/", "token": "t"},
                         {"AMLOCAL_URL": "http://127.0.0.1:2"})
    assert (found.url, found.token) == ("http://127.0.0.1:2", "t")  # a variable wins
    assert find_service({}, {"AMLOCAL_WORKSPACE": str(tmp_path / "ws")}).token == \
        "from-the-workspace"
    # Workspace.from_config: config.json in a parent folder, its amlocal section
    from amlocal.azureml.core import Workspace
    (tmp_path / "config.json").write_text(json.dumps({
        "subscription_id": "s", "resource_group": "g", "workspace_name": "w",
        "amlocal": {"url": "http://127.0.0.1:3", "token": "tok"}}))
    (tmp_path / "nb").mkdir()
    monkeypatch.chdir(tmp_path / "nb")
    monkeypatch.delenv("AMLOCAL_URL", raising=False)
    monkeypatch.delenv("AMLOCAL_API_TOKEN", raising=False)
    ws = Workspace.from_config()
    assert (ws.name, ws.subscription_id, ws.resource_group) == ("w", "s", "g")
    assert ws._client.url == "http://127.0.0.1:3"
    assert ws._client.session.headers["Authorization"] == "Bearer tok"
    from amlocal.azureml.exceptions import UserErrorException
    with pytest.raises(UserErrorException, match="We could not find config.json in"):
        Workspace.from_config(_file_name="other.json")


def test_the_snapshot_refuses_what_azure_refuses(tmp_path):
    from amlocal import snapshot
    for i in range(snapshot.MAX_FILES + 1):
        (tmp_path / f"f{i}.txt").write_text("x")
    with pytest.raises(snapshot.SnapshotError, match="exceeds the file limit of 2000"):
        snapshot.pack(tmp_path, tmp_path.parent / "s.tar.gz")
    (tmp_path / ".amlignore").write_text("f1*.txt\n")
    assert snapshot.pack(tmp_path, tmp_path.parent / "s.tar.gz").files < snapshot.MAX_FILES


def test_deployment_configurations_are_amlocal_targets():
    from amlocal.azureml.core.webservice import AciWebservice, LocalWebservice
    aci = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=0.5, auth_enabled=True)
    assert aci._body() == {"target": "aci", "auth_enabled": True, "cpu_cores": 1, "memory_gb": 0.5}
    assert LocalWebservice.deploy_configuration(port=6789)._body() == \
        {"target": "local", "port": 6789}
    assert LocalWebservice.deploy_configuration(amlocal_target="docker")._body() == \
        {"target": "docker"}
    assert LocalWebservice.deploy_configuration(amlocal_max_batch_rows=64, amlocal_max_latency_ms=5)._body() == \
        {"target": "local", "max_batch_rows": 64, "max_latency_ms": 5}
    with pytest.raises(NotImplementedError, match=r"deploy_configuration\(ssl_enabled\) is not "
                       "mirrored by amlocal"):
        AciWebservice.deploy_configuration(ssl_enabled=True)
