"""Sweeps against a real service: gunicorn + agent on 127.0.0.1, children as real subprocesses."""
from __future__ import annotations

import json
import os
import signal
from datetime import datetime

from tests.conftest import REPO, Service, free_port, make_snapshot
from tests.polling import wait_for

TRAIN_IRIS = (REPO / "training" / "train_iris.py").read_text()
TERMINAL = ("Completed", "Failed", "Canceled")


def submit_sweep(service, files: dict, script: str, experiment="sweeps", **config) -> dict:
    """POST a sweep; the config is the run config plus the sweep's fields."""
    resp = service.http("POST", f"/experiments/{experiment}/sweeps",
                        files={"snapshot": ("s.tar.gz", make_snapshot(files))},
                        data={"config": json.dumps({"script": script, **config})})
    assert resp.status_code == 201, resp.text
    return resp.json()


def children(service, parent_id: str, query: str = "") -> list[dict]:
    return service.http("GET", f"/runs/{parent_id}/children{query}").json()["children"]


def child_runs(service, parent_id: str) -> list[dict]:
    return [service.run(c["run_id"]) for c in children(service, parent_id)]


def _t(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def most_at_once(runs: list[dict]) -> int:
    """The most children unfinished at one moment, from creation to end (status_times)."""
    spans = [(_t(r["status_times"]["NotStarted"]), _t(r["end_time"])) for r in runs]
    return max(sum(start <= moment < end for start, end in spans) for moment, _ in spans)


def gated(gate, body: str) -> str:
    """A script running `body` with `run`, `args` (--x) and `wait()`, which waits for `gate`."""
    return ("import argparse, os, time\nfrom azureml.core.run import Run\n"
            "parser = argparse.ArgumentParser()\nparser.add_argument('--x', type=float)\n"
            "args, _ = parser.parse_known_args()\nrun = Run.get_context()\n"
            f"def wait():\n    while not os.path.exists({str(gate)!r}):\n        time.sleep(0.05)\n"
            + body + "\n")


def test_the_notebook_grid_over_train_iris(service):
    parent = submit_sweep(
        service, {"train_iris.py": TRAIN_IRIS}, "train_iris.py", experiment="iris-sweep",
        sampling={"type": "grid", "space": {
            "--kernel": ["choice", [["linear", "rbf", "poly", "sigmoid"]]],
            "--penalty": ["choice", [[0.5, 1, 1.5]]]}},
        primary_metric={"name": "Accuracy", "goal": "maximize"},
        max_total_runs=12, max_concurrent_runs=4)
    done = service.wait_run(parent["id"], timeout=300)
    assert done["status"] == "Completed", done
    assert done["summary"]["children_by_state"] == {"Completed": 12}
    runs = child_runs(service, parent["id"])
    assert most_at_once(runs) <= 4
    ranked = children(service, parent["id"], "?sort=primary_metric")
    assert [round(r["best_primary_metric"], 4) for r in ranked[-3:]] == [0.2368] * 3
    assert {r["hyperparameters"]["--kernel"] for r in ranked[-3:]} == {"sigmoid"}
    best = service.http("GET", f"/runs/{parent['id']}/best").json()
    assert round(best["best_primary_metric"], 4) == 0.9737
    assert best["hyperparameters"]["--kernel"] in ("linear", "rbf", "poly")
    assert best["run_id"] == ranked[0]["run_id"] == done["summary"]["best"]["run_id"]
    assert best["run"]["arguments"][-4:] == ["--kernel", best["hyperparameters"]["--kernel"],
                                             "--penalty", str(best["hyperparameters"]["--penalty"])]
    files = service.http("GET", f"/runs/{best['run_id']}/files").json()["files"]
    assert "outputs/model.joblib" in [f["path"] for f in files]


def test_seeded_random_repeats_and_bayesian_never_repeats(service):
    script = {"t.py": gated(None, "run.log('score', -(args.x - 1.0) ** 2)")}
    space = {"--x": ["choice", [[0.5, 1, 1.5, 2]]], "--y": ["choice", [["a", "b", "c"]]]}
    metric = {"name": "score", "goal": "maximize"}
    configs = []
    for _ in range(2):
        parent = submit_sweep(service, script, "t.py", sampling={"type": "random", "seed": 42,
                                                                 "space": space},
                              primary_metric=metric, max_total_runs=5, max_concurrent_runs=2)
        assert service.wait_run(parent["id"], timeout=120)["status"] == "Completed"
        configs.append([c["hyperparameters"] for c in children(service, parent["id"])])
    assert configs[0] == configs[1] and len(configs[0]) == 5
    assert len({json.dumps(c, sort_keys=True) for c in configs[0]}) == 5
    parent = submit_sweep(service, script, "t.py", sampling={"type": "bayesian", "space": {
        "--x": ["uniform", [0.1, 2.0]]}}, primary_metric=metric, max_total_runs=6,
        max_concurrent_runs=2)
    assert parent["sweep"]["notes"]  # Azure's advice: 20 runs per hyperparameter
    done = service.wait_run(parent["id"], timeout=120)
    assert done["status"] == "Completed" and done["summary"]["children_by_state"] == {
        "Completed": 6}
    xs = [c["hyperparameters"]["--x"] for c in children(service, parent["id"])]
    assert len(set(xs)) == 6 and all(0.1 <= x <= 2.0 for x in xs)


def test_bandit_cancels_the_bad_children_and_the_good_ones_complete(service, visible_dir):
    gate = visible_dir / "gate"
    # Good configs log 0.9 at every step; bad ones start at 0.5 and go down. Every child logs
    # its first value and then waits for the gate, so the policy sees all first values while
    # the bad children still run; they never pass the gate unless the policy fails to stop them.
    body = ("for step in range(4):\n"
            "    run.log('score', 0.9 if args.x > 0.7 else 0.5 - 0.1 * step)\n"
            "    if step == 0:\n        wait()")
    parent = submit_sweep(service, {"b.py": gated(gate, body)}, "b.py",
                          sampling={"type": "grid", "space": {"--x": ["choice", [[0.9, 0.5]]],
                                                              "--rep": ["choice", [[1, 2]]]}},
                          primary_metric={"name": "score", "goal": "maximize"},
                          max_total_runs=4, max_concurrent_runs=4,
                          policy={"type": "bandit", "slack_factor": 0.1})
    bad = [f"{parent['id']}_{i}" for i in (2, 3)]  # grid order: x=0.9 first
    reason = "BanditPolicy: best 0.5 at interval 1 is below 0.8182 = 0.9 / (1 + 0.1)"
    for run_id in bad:
        assert service.wait_run(run_id, timeout=60)["status"] == "Canceled"
        assert service.run(run_id)["properties"]["cancel_reason"] == reason
        # The run queue records 'Run was canceled'; the controller puts the reason there next tick.
        wait_for(lambda: service.run(run_id)["error"]["message"] == reason, timeout=10,
                 message="the policy's reason as the error")
    gate.write_text("go")
    done = service.wait_run(parent["id"], timeout=60)
    assert done["status"] == "Completed"
    states = {c["run_id"]: c["status"] for c in children(service, parent["id"])}
    assert states == {f"{parent['id']}_{i}": s for i, s in
                      enumerate(["Completed", "Completed", "Canceled", "Canceled"])}
    metrics = service.http("GET", f"/runs/{parent['id']}_0/metrics").json()["metrics"]
    assert metrics == {"score": [0.9] * 4}


def test_canceling_the_parent_cancels_its_running_children(service, visible_dir):
    body = "run.log('score', args.x)\nwait()"
    parent = submit_sweep(service, {"c.py": gated(visible_dir / "never", body)}, "c.py",
                          sampling={"type": "grid", "space": {"--x": ["choice", [[1, 2, 3]]]}},
                          primary_metric={"name": "score", "goal": "maximize"},
                          max_total_runs=3, max_concurrent_runs=2)
    wait_for(lambda: len(children(service, parent["id"], "?sort=primary_metric&discard_no_metric"
                                                         "=true")) == 2,
             timeout=60, message="two children logging")
    assert service.http("POST", f"/runs/{parent['id']}/cancel").status_code == 202
    done = service.wait_run(parent["id"], timeout=30)
    assert done["status"] == "Canceled"
    runs = child_runs(service, parent["id"])
    assert [r["status"] for r in runs] == ["Canceled", "Canceled"]
    assert all("was canceled" in r["error"]["message"] for r in runs)


def test_kill_9_of_the_agent_mid_sweep_resumes_and_loses_nothing(tmp_path, visible_dir):
    gate = visible_dir / "gate"
    body = "run.log('score', args.x)\nif args.x > 1:\n    wait()"
    svc = Service(tmp_path / "ws", free_port()).start()
    try:
        parent = submit_sweep(svc, {"k.py": gated(gate, body)}, "k.py",
                              sampling={"type": "grid", "space": {
                                  "--x": ["choice", [[1, 2, 3, 4, 5, 6]]]}},
                              primary_metric={"name": "score", "goal": "minimize"},
                              max_total_runs=6, max_concurrent_runs=2)
        pid = parent["id"]
        wait_for(lambda: [r["status"] for r in child_runs(svc, pid)] ==
                 ["Completed", "Running", "Running"], timeout=60, message="two children running")
        wait_for(lambda: len(children(svc, pid, "?sort=primary_metric&discard_no_metric=true"))
                 == 3, timeout=30, message="their metrics")
        old = svc.agent_pid()
        os.kill(old, signal.SIGKILL)  # `amlocal serve` restarts its agent
        wait_for(lambda: svc.agent_pid() != old, timeout=30, message="a new agent")
        lost = [svc.wait_run(f"{pid}_{i}", timeout=30) for i in (1, 2)]
        assert [r["status"] for r in lost] == ["Failed", "Failed"]
        assert lost[0]["error"]["message"] == "the agent stopped while the run was running"
        gate.write_text("go")
        done = svc.wait_run(pid, timeout=60)
        assert done["status"] == "Completed", done
        runs = child_runs(svc, pid)
        assert [r["status"] for r in runs] == ["Completed", "Failed", "Failed", "Completed",
                                               "Completed", "Completed"]
        ranked = children(svc, pid, "?sort=primary_metric")
        assert [r["best_primary_metric"] for r in ranked] == [1, 2, 3, 4, 5, 6]
        assert svc.http("GET", f"/runs/{pid}/best").json()["run_id"] == f"{pid}_0"
    finally:
        svc.stop()
