"""What needs no cluster: a run's environment as a Ray runtime environment, addresses, the store."""
from __future__ import annotations

import io

import pytest

from service.computes import (Probe, RuntimeEnvError, check_address, conda_as_pip, parse_probe,
                              runtime_env_for)
from service.errors import BadRequest, Conflict, NotFound
from service.store import Store, init_workspace
from tests.conftest import make_snapshot

CLUSTER = Probe("3.11.7", {"scikit-learn": "1.9.1", "joblib": "1.5.0", "numpy": "2.4.6"})


def env(python: str | None, pip=(), conda=()) -> dict:
    return {"spec": {"python": python, "channels": [], "conda": list(conda), "pip": list(pip),
                     "variables": {}}}


def test_the_cluster_s_packages_are_not_installed_again():
    assert runtime_env_for(env("3.11", pip=["scikit-learn>=1.3", "joblib>=1.3"]), CLUSTER) == {}
    assert runtime_env_for(None, CLUSTER) == {}
    wanted = runtime_env_for(env("3.11", pip=["scikit-learn<1.5", "lightgbm==4.5"]), CLUSTER)
    assert wanted["pip"]["packages"] == ["scikit-learn<1.5", "lightgbm==4.5"]
    assert runtime_env_for(env(None, conda=["numpy=2.4", "pip", "python=3.11"]), CLUSTER) == {}


@pytest.mark.parametrize("python, fits", [("3.11", True), ("3.11.7", True), ("3.10", False),
                                          ("3", True), ("3.11.2", False)])
def test_the_python_version_must_match_the_cluster_s(python, fits):
    if fits:
        assert runtime_env_for(env(python), CLUSTER) == {}
    else:
        with pytest.raises(RuntimeEnvError, match=f"needs Python {python}, the cluster runs "
                                                  "Python 3.11.7"):
            runtime_env_for(env(python), CLUSTER)


def test_conda_dependencies_become_pip_requirements():
    assert conda_as_pip("numpy=1.26") == "numpy==1.26.*"
    assert conda_as_pip("py-xgboost>=2.0") == "xgboost>=2.0"
    with pytest.raises(RuntimeEnvError, match="only as a conda package"):
        conda_as_pip("mkl")


def test_the_probe_s_answer_is_read_from_its_log():
    probe = parse_probe('noise\nAMLOCAL_PROBE {"python": "3.11.7", "packages": '
                        '{"Scikit_Learn": "1.9.1"}}\n')
    assert probe == Probe("3.11.7", {"scikit-learn": "1.9.1"})
    with pytest.raises(RuntimeEnvError, match="no answer"):
        parse_probe("Traceback ...")


@pytest.mark.parametrize("address", ["127.0.0.1:8265", "ftp://h:1", "http://h", "http://h:99999", "http://h:0",
                                     "http://h:8265/api", "http://u:p@h:8265", "http://h:8265?x"])
def test_bad_addresses_are_refused(address):
    with pytest.raises(BadRequest) as err:
        check_address(address)
    assert err.value.field == "address"


def test_the_store_keeps_targets_and_local_is_built_in(tmp_path):
    store = Store(init_workspace(tmp_path / "ws").db_path)
    assert [c.name for c in store.list_computes()] == ["local"]
    store.create_compute("cpu-cluster", "ray", "http://127.0.0.1:8265")
    with pytest.raises(Conflict):
        store.create_compute("cpu-cluster", "ray", "http://127.0.0.1:8266")
    with pytest.raises(Conflict):
        store.create_compute("local", "ray", "http://127.0.0.1:8266")
    run = store.create_run("e", "a.py", [], "0" * 64, compute="cpu-cluster")
    assert store.claim_next_run() is None  # the local queue leaves it alone
    assert store.computes_with_queued_runs() == ["cpu-cluster"]
    with pytest.raises(Conflict, match="1 unfinished runs"):
        store.delete_compute("cpu-cluster")
    assert store.claim_next_run(compute="cpu-cluster").id == run.id
    store.finish_run(run.id, "Completed")
    store.delete_compute("cpu-cluster")
    with pytest.raises(NotFound):
        store.get_compute("cpu-cluster")


def test_a_local_compute_is_another_name_for_the_agent(client):
    """What an Azure AmlCompute cluster becomes (the SDK's ComputeTarget.create): runs on it are
    the agent's; it has no address; a ray compute still needs one."""
    made = client.post("/computes", json={"name": "hd-cluster", "type": "local"})
    assert made.status_code == 201, made.get_json()
    assert (made.get_json()["type"], made.get_json()["address"]) == ("local", None)
    for body, field in [({"name": "c2", "type": "local", "address": "http://127.0.0.1:8265"},
                         "address"), ({"name": "c3", "type": "ray"}, "address"),
                        ({"name": "c4", "type": "slurm"}, "type")]:
        refused = client.post("/computes", json=body)
        assert refused.status_code == 400 and refused.get_json()["error"]["field"] == field
    run = client.post("/experiments/exp/runs", content_type="multipart/form-data", data={
        "config": '{"script": "s.py", "compute_target": "hd-cluster"}',
        "snapshot": (io.BytesIO(make_snapshot({"s.py": "print(1)\n"})), "s.tar.gz")})
    assert run.status_code == 201, run.get_json()
    assert run.get_json()["compute_target"] == "local"
