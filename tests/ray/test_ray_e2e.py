"""Runs and sweeps on a real two-node Ray cluster (tests/ray/conftest.py), end to end.

One cluster and one service serve the whole module; the tests that break the cluster (a node
killed, the head stopped) come last, in this order.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from amlocal.client import Client

from tests.conftest import REPO, TOKEN, assert_error, make_snapshot
from tests.polling import wait_for

TRAIN_IRIS = (REPO / "training" / "train_iris.py").read_text()
COMPUTE = "ray-cluster"


def gated_script(gate, body: str = "") -> str:
    """Logs `step` 1, waits for `gate` to exist, logs `step` 2 (then runs `body`)."""
    return ("import os, time\nfrom azureml.core.run import Run\nrun = Run.get_context()\n"
            "run.log('step', 1)\nprint('waiting', flush=True)\n"
            f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n"
            "run.log('step', 2)\n" + body + "\n")


def submit(svc, files: dict, script: str, **config) -> dict:
    return svc.submit(files, script, experiment="on-ray", compute_target=COMPUTE, **config)


def state_of(svc, run_id: str, *states: str) -> dict | None:
    run = svc.run(run_id)
    return run if run["status"] in states else None


def cli(svc, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AMLOCAL_URL": svc.url, "AMLOCAL_API_TOKEN": TOKEN}
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_compute_targets_are_checked_and_show_the_cluster(ray_service, ray_cluster):
    svc = ray_service
    bad = {"name": "c2", "type": "ray", "address": "ftp://127.0.0.1:1"}
    assert_error(svc.http("POST", "/computes", json=bad), 400, "address", "http://HOST:PORT")
    silent = {**bad, "address": "http://127.0.0.1:9"}
    assert_error(svc.http("POST", "/computes", json=silent), 400, "address", "no Ray cluster")
    clash = {**bad, "name": COMPUTE, "address": ray_cluster.address}
    assert_error(svc.http("POST", "/computes", json=clash), 409, "name", "already exists")
    assert_error(svc.http("POST", "/computes", json={**clash, "name": "local"}), 409, "name")
    assert_error(svc.http("POST", "/computes", json={**clash, "name": "x y"}), 400, "name")
    assert_error(svc.http("POST", "/computes", json={**clash, "name": "c3", "type": "k8s"}),
                 400, "type")
    shown = svc.http("GET", f"/computes/{COMPUTE}").json()
    assert shown["state"] == "Ready" and shown["cpus_total"] == 4
    assert sorted(n["state"] for n in shown["nodes"]) == ["ALIVE", "ALIVE"]
    listed = cli(svc, "compute", "list")
    assert listed.returncode == 0 and "local" in listed.stdout and COMPUTE in listed.stdout
    made = cli(svc, "compute", "create", "second", "--address", ray_cluster.address)
    assert made.returncode == 0, made.stderr
    assert "CPUs free" in cli(svc, "compute", "show", "second").stdout
    assert cli(svc, "compute", "delete", "second").returncode == 0
    assert cli(svc, "compute", "show", "second").returncode == 1
    resp = svc.http("POST", "/experiments/on-ray/runs", files={"snapshot": (
        "s.tar.gz", make_snapshot({"a.py": ""}))}, data={"config": json.dumps(
            {"script": "a.py", "compute_target": "nowhere"})})
    assert_error(resp, 400, "config.compute_target", "no compute 'nowhere'")


def test_train_iris_on_the_cluster_then_register_and_deploy(ray_service, tmp_path):
    svc, gate = ray_service, tmp_path / "gate"
    live = submit(svc, {"g.py": gated_script(gate)}, "g.py")
    iris = submit(svc, {"train_iris.py": TRAIN_IRIS}, "train_iris.py")
    assert iris["compute_target"] == COMPUTE
    # metrics arrive over HTTP while the script still runs
    wait_for(lambda: svc.http("GET", f"/runs/{live['id']}/metrics").json()["metrics"].get(
        "step") == 1, timeout=90, message="a metric while the run is Running")
    assert svc.run(live["id"])["status"] == "Running"
    gate.write_text("go")
    done = svc.wait_run(iris["id"], timeout=120)
    assert done["status"] == "Completed", done
    assert done["properties"]["amlocal.compute"] == COMPUTE
    metrics = svc.http("GET", f"/runs/{iris['id']}/metrics").json()["metrics"]
    assert round(metrics["Accuracy"], 4) == 0.9737
    assert "Accuracy: 0.9737" in svc.http("GET", f"/runs/{iris['id']}/logs").text
    model = svc.http("GET", f"/runs/{iris['id']}/files/outputs/model.joblib")
    assert model.status_code == 200 and len(model.content) > 1000
    assert svc.wait_run(live["id"], timeout=60)["status"] == "Completed"
    client = Client(svc.url, TOKEN)
    assert client.register_from_run(iris["id"], "iris-ray")["version"] == 1
    dep = client.deploy_and_wait("iris-ray", ["iris-ray:1"])
    assert dep["state"] == "Healthy", dep
    assert client.score("iris-ray", [[5.1, 3.5, 1.4, 0.2]]) == {"predict": [0]}
    client.request("DELETE", "/deployments/iris-ray")


def test_cancel_timeout_failure_and_a_python_mismatch(ray_service, tmp_path):
    svc = ray_service
    hang = submit(svc, {"h.py": gated_script(tmp_path / "never")}, "h.py")
    slow = submit(svc, {"s.py": "import time\ntime.sleep(600)\n"}, "s.py", timeout_s=3)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "b.py").write_text("raise ValueError('boom on ray')\n")
    sent = cli(svc, "run", "submit", str(tmp_path / "src"), "b.py", "--compute", COMPUTE,
               "--experiment", "on-ray", "--json")
    assert sent.returncode == 0, sent.stderr
    boom = json.loads(sent.stdout)
    assert boom["compute_target"] == COMPUTE
    told = submit(svc, {"f.py": "from azureml.core.run import Run\n"
                                "Run.get_context().fail(error_details='bad data')\n"}, "f.py")
    env = {"conda_spec": "name: old\ndependencies:\n  - python=3.8\n  - pip:\n    - joblib\n"}
    old = submit(svc, {"o.py": "print(1)\n"}, "o.py", environment=env)
    wait_for(lambda: state_of(svc, hang["id"], "Running"), timeout=90, message="hang Running")
    assert svc.http("POST", f"/runs/{hang['id']}/cancel").status_code == 202
    canceled = svc.wait_run(hang["id"], timeout=60)
    assert canceled["status"] == "Canceled", canceled
    failed = svc.wait_run(boom["id"], timeout=120)
    assert failed["status"] == "Failed"
    assert failed["error"]["message"] == "ValueError: boom on ray", failed["error"]
    timed_out = svc.wait_run(slow["id"], timeout=120)
    assert timed_out["status"] == "Failed"
    assert timed_out["error"]["message"] == "Run exceeded its timeout of 3 s"
    said = svc.wait_run(told["id"], timeout=120)
    assert said["status"] == "Failed" and said["error"]["message"] == "bad data", said
    refused = svc.wait_run(old["id"], timeout=60)
    assert refused["status"] == "Failed" and "needs Python 3.8" in refused["error"]["message"]


def submit_sweep(svc, files: dict, script: str, **config) -> dict:
    resp = svc.http("POST", "/experiments/on-ray/sweeps",
                    files={"snapshot": ("s.tar.gz", make_snapshot(files))},
                    data={"config": json.dumps({"script": script, "compute_target": COMPUTE,
                                                **config})})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_the_notebook_sweep_spreads_over_both_nodes(ray_service, ray_cluster):
    svc = ray_service
    parent = submit_sweep(
        svc, {"train_iris.py": TRAIN_IRIS}, "train_iris.py",
        sampling={"type": "grid", "space": {
            "--kernel": ["choice", [["linear", "rbf", "poly", "sigmoid"]]],
            "--penalty": ["choice", [[0.5, 1, 1.5]]]}},
        primary_metric={"name": "Accuracy", "goal": "maximize"},
        max_total_runs=12, max_concurrent_runs=4)
    done = svc.wait_run(parent["id"], timeout=400)
    assert done["status"] == "Completed", done
    assert done["summary"]["children_by_state"] == {"Completed": 12}
    kids = svc.http("GET", f"/runs/{parent['id']}/children").json()["children"]
    runs = [svc.run(c["run_id"]) for c in kids]
    assert {r["compute_target"] for r in runs} == {COMPUTE}
    nodes = {r["properties"]["amlocal.ray_node_id"] for r in runs}
    assert nodes == set(ray_cluster.node_ids().values())
    ranked = svc.http("GET", f"/runs/{parent['id']}/children?sort=primary_metric").json()
    ranked = ranked["children"]
    assert {r["hyperparameters"]["--kernel"] for r in ranked[-3:]} == {"sigmoid"}
    best = svc.http("GET", f"/runs/{parent['id']}/best").json()
    assert round(best["best_primary_metric"], 4) == 0.9737


def test_bandit_cancels_ray_jobs(ray_service, tmp_path):
    svc, gate = ray_service, tmp_path / "gate"
    script = ("import argparse, os, time\nfrom azureml.core.run import Run\n"
              "p = argparse.ArgumentParser()\np.add_argument('--x', type=float)\n"
              "args, _ = p.parse_known_args()\nrun = Run.get_context()\n"
              "run.log('score', 0.9 if args.x > 0.7 else 0.1)\n"
              f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n"
              "run.log('score', 0.9 if args.x > 0.7 else 0.1)\n")
    parent = submit_sweep(svc, {"b.py": script}, "b.py",
                          sampling={"type": "grid", "space": {"--x": ["choice", [[0.9, 0.5]]]}},
                          primary_metric={"name": "score", "goal": "maximize"},
                          max_total_runs=2, max_concurrent_runs=2,
                          policy={"type": "bandit", "slack_factor": 0.1})
    bad = f"{parent['id']}_1"
    canceled = svc.wait_run(bad, timeout=120)
    assert canceled["status"] == "Canceled", canceled
    assert canceled["error"]["message"].startswith("BanditPolicy")
    gate.write_text("go")
    done = svc.wait_run(parent["id"], timeout=120)
    assert done["status"] == "Completed"
    assert svc.run(f"{parent['id']}_0")["status"] == "Completed"


def test_a_killed_node_fails_its_runs_naming_the_node(ray_service, ray_cluster, tmp_path):
    svc, gate = ray_service, tmp_path / "gate"
    runs = [submit(svc, {"g.py": gated_script(gate)}, "g.py") for _ in range(4)]
    for run in runs:  # four CPUs: all four run, two on each node
        wait_for(lambda: state_of(svc, run["id"], "Running"), timeout=120, message="Running")
    worker = ray_cluster.node_ids()["worker"]
    node_of = {r["id"]: svc.run(r["id"])["properties"]["amlocal.ray_node_id"] for r in runs}
    on_worker = [run_id for run_id, node in node_of.items() if node == worker]
    assert on_worker and len(on_worker) < 4, node_of
    ray_cluster.kill_worker()
    for run_id in on_worker:
        failed = svc.wait_run(run_id, timeout=90)
        assert failed["status"] == "Failed", failed
        assert worker in failed["error"]["message"] and "died" in failed["error"]["message"]
    gate.write_text("go")
    for run_id in set(node_of) - set(on_worker):
        assert svc.wait_run(run_id, timeout=60)["status"] == "Completed"


def test_the_head_stopped_fails_the_runs_and_the_service_answers(ray_service, ray_cluster,
                                                                 tmp_path):
    svc = ray_service
    run = submit(svc, {"g.py": gated_script(tmp_path / "never")}, "g.py")
    wait_for(lambda: state_of(svc, run["id"], "Running"), timeout=90, message="Running")
    ray_cluster.stop()
    failed = svc.wait_run(run["id"], timeout=90)
    assert failed["status"] == "Failed"
    assert "stopped answering" in failed["error"]["message"], failed["error"]
    assert svc.http("GET", "/health").status_code == 200
    shown = svc.http("GET", f"/computes/{COMPUTE}").json()
    assert shown["state"] == "Unreachable" and "no Ray cluster answers" in shown["message"]
    queued = submit(svc, {"a.py": "print(1)\n"}, "a.py")
    refused = svc.wait_run(queued["id"], timeout=60)
    assert refused["status"] == "Failed" and "unreachable" in refused["error"]["message"]
