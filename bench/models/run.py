"""Model-registry benchmark (issue 4): register a ~1 MB model from a run, introspection included.

    .venv/bin/python -m bench.models.run [--registrations 30]

Starts a real `amlocal serve` (2 gunicorn workers + the agent) on a temporary workspace on
127.0.0.1, trains a ~1 MB scikit-learn model as a tracked run, then times POST /models from that
run one registration after another (each one copies and hashes the file, reads the estimator in a
forked child, allocates the version and moves the files in). The first registration of each API
worker also waits for its fork server's one-time imports: it is reported apart ("cold").
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import requests

from bench.harness import BenchService, snapshot, wait_for

TRAIN = """\
import os, joblib, numpy as np
from sklearn.neighbors import KNeighborsClassifier
rng = np.random.default_rng(0)
X = rng.normal(size=(28000, 4))
y = (X[:, 0] > 0).astype(np.int64)
os.makedirs("outputs", exist_ok=True)
# brute force keeps only the training data: the pickle is ~1 MB of arrays
joblib.dump(KNeighborsClassifier(algorithm="brute").fit(X, y), "outputs/model.joblib")
print(os.path.getsize("outputs/model.joblib"))
"""


def train(session: requests.Session, url: str) -> dict:
    run = session.post(f"{url}/experiments/bench-models/runs",
                       files={"snapshot": ("s.tgz", snapshot({"train.py": TRAIN}))},
                       data={"config": json.dumps({"script": "train.py"})}).json()
    done = wait_for(lambda: (r := session.get(f"{url}/runs/{run['id']}").json())["status"] in (
        "Completed", "Failed", "Canceled") and r, 300, "the training run")
    if done["status"] != "Completed":
        raise SystemExit(f"training failed: {done.get('error')}")
    return done


def register(session: requests.Session, url: str, run_id: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    resp = session.post(f"{url}/models", json={"name": "bench-knn", "run_id": run_id,
                                               "path": "outputs/model.joblib",
                                               "framework": "ScikitLearn"})
    elapsed = time.perf_counter() - t0
    if resp.status_code != 201:
        raise SystemExit(f"registration failed: {resp.status_code} {resp.text}")
    return elapsed, resp.json()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registrations", type=int, default=30)
    args = parser.parse_args()
    with BenchService(AMLOCAL_API_WORKERS="2") as service:
        session, url = service.session, service.url
        run = train(session, url)
        cold = [register(session, url, run["id"])[0] for _ in range(2)]  # both workers warm up
        timings, last = [], {}
        for _ in range(args.registrations):
            elapsed, last = register(session, url, run["id"])
            timings.append(elapsed)
        timings.sort()
        size = last["files"][0]["size"]
        result = {"model_bytes": size, "estimator": last["estimator"]["class"],
                  "introspection": last["estimator"]["status"], "registrations": len(timings),
                  "median_s": round(statistics.median(timings), 4),
                  "p90_s": round(timings[int(0.9 * (len(timings) - 1))], 4),
                  "max_s": round(timings[-1], 4), "cold_first_two_s": [round(c, 3) for c in cold],
                  "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
        print(json.dumps(result, indent=2))
        print(f"\n| metric | target | measured |\n|---|---|---|\n"
              f"| register a {size / 1e6:.2f} MB model from a run, incl. introspection, median of "
              f"{len(timings)} | < 300 ms | {result['median_s'] * 1000:.0f} ms (p90 "
              f"{result['p90_s'] * 1000:.0f} ms) |")


if __name__ == "__main__":
    main()
