"""Runs on a Ray compute target against the local agent, on this machine.

    .venv/bin/python -m bench.ray.run [--runs 5] [--skip-sweep]

1. submit → Running (and → Completed) of a script that sleeps 2 s, `--runs` times one after the other,
   on the local agent and on a two-node Ray cluster (one service, the same script);
2. the wall time of the notebook's 12-child train_iris grid sweep (max_concurrent_runs=4) on a
   one-node cluster (2 CPUs) and on a two-node cluster (2 + 2 CPUs).
Prints markdown; the figures go to bench/README.md with the command.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.harness import REPO, BenchService, snapshot
from tests.raycluster import RayCluster

TRAIN_IRIS = (REPO / "training" / "train_iris.py").read_text()
TERMINAL = ("Completed", "Failed", "Canceled")


def seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def submit(svc: BenchService, compute: str, files: dict, script: str, kind: str = "runs",
           **config) -> dict:
    resp = svc.session.post(f"{svc.url}/experiments/bench/{kind}",
                            files={"snapshot": ("s.tar.gz", snapshot(files))},
                            data={"config": json.dumps({"script": script,
                                                        "compute_target": compute, **config})})
    resp.raise_for_status()
    return resp.json()


def wait_end(svc: BenchService, run_id: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = svc.session.get(f"{svc.url}/runs/{run_id}").json()
        if run["status"] in TERMINAL:
            return run
        time.sleep(0.1)
    raise SystemExit(f"run {run_id} did not end")


def to_running(svc: BenchService, compute: str, runs: int) -> dict:
    """Median seconds submit → Running and submit → Completed (from the run's own times)."""
    running, done = [], []
    for _ in range(runs):
        # it sleeps 2 s so that the 0.25 s poll of the Ray job sees it Running before it ends
        run = wait_end(svc, submit(svc, compute, {"p.py": "import time\ntime.sleep(2)\n"},
                                   "p.py")["id"])
        assert run["status"] == "Completed", run
        times = run["status_times"]
        running.append(seconds(times["Running"]) - seconds(times["Queued"]))
        done.append(seconds(times["Completed"]) - seconds(times["Queued"]))
    return {"running_s": statistics.median(running), "completed_s": statistics.median(done)}


def sweep_wall(svc: BenchService, compute: str) -> dict:
    parent = submit(svc, compute, {"train_iris.py": TRAIN_IRIS}, "train_iris.py", kind="sweeps",
                    sampling={"type": "grid", "space": {
                        "--kernel": ["choice", [["linear", "rbf", "poly", "sigmoid"]]],
                        "--penalty": ["choice", [[0.5, 1, 1.5]]]}},
                    primary_metric={"name": "Accuracy", "goal": "maximize"},
                    max_total_runs=12, max_concurrent_runs=4)
    started = time.monotonic()
    run = wait_end(svc, parent["id"])
    wall = time.monotonic() - started
    kids = svc.session.get(f"{svc.url}/runs/{parent['id']}/children").json()["children"]
    nodes = {svc.session.get(f"{svc.url}/runs/{k['run_id']}").json()["properties"].get(
        "amlocal.ray_node_id") for k in kids}
    return {"wall_s": wall, "status": run["status"], "nodes": len(nodes - {None})}


def with_cluster(workers: bool, work) -> dict:
    temp_dir = Path(tempfile.mkdtemp(prefix="rayb", dir="/tmp"))
    cluster = RayCluster(temp_dir, cpus=2, with_worker=workers)
    try:
        cluster.start()
        with BenchService() as svc:
            svc.session.post(f"{svc.url}/computes", json={
                "name": "bench-ray", "address": cluster.address}).raise_for_status()
            return work(svc)
    finally:
        cluster.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()

    def latency(svc: BenchService) -> dict:
        to_running(svc, "bench-ray", 1)  # the first run on a target also probes its Python
        return {"local": to_running(svc, "local", args.runs),
                "ray": to_running(svc, "bench-ray", args.runs)}

    lat = with_cluster(True, latency)
    print(f"| target | submit → Running (median of {args.runs}) | submit → Completed (2 s script) |")
    print("|---|---|---|")
    for name, row in lat.items():
        print(f"| {name} | {row['running_s']:.2f} s | {row['completed_s']:.2f} s |")
    print(f"\nray/local submit → Running: {lat['ray']['running_s'] / lat['local']['running_s']:.1f}x")
    if args.skip_sweep:
        return
    one = with_cluster(False, lambda svc: sweep_wall(svc, "bench-ray"))
    two = with_cluster(True, lambda svc: sweep_wall(svc, "bench-ray"))
    print("\n| cluster | 12-child sweep wall time | nodes used | status |")
    print("|---|---|---|---|")
    for name, row in (("1 node, 2 CPUs", one), ("2 nodes, 2 + 2 CPUs", two)):
        print(f"| {name} | {row['wall_s']:.1f} s | {row['nodes']} | {row['status']} |")
    print(f"\n2 nodes / 1 node wall time: {two['wall_s'] / one['wall_s']:.2f}")


if __name__ == "__main__":
    main()
