"""Sweep overhead benchmark (issue 7): a 20-child sweep at concurrency 2 against 20 plain runs.

    .venv/bin/python -m bench.sweeps.run [--children 20] [--concurrency 2] [--repetitions 3]

Starts a real `amlocal serve` on a temporary workspace on 127.0.0.1 whose run limit is the
sweep's concurrency, so both sides run two scripts at a time. Plain: 20 runs of the same trivial
script submitted one after another (all queued at once). Sweep: one grid sweep of 20 children.
Wall time is from the first POST to the last child's recorded end. Repetitions alternate plain
and sweep; the medians and their ratio are printed. A third figure, plain runs each waited for
before the next is submitted, shows what running the children two at a time buys.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime

import requests

from bench.harness import TOKEN, BenchService, snapshot

TERMINAL = ("Completed", "Failed", "Canceled")
SCRIPT = ("import argparse\nfrom azureml.core.run import Run\np = argparse.ArgumentParser()\n"
          "p.add_argument('--x', type=int, default=0)\n"
          "Run.get_context().log('score', p.parse_args().x)\n")


def ended(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def start_gaps(runs: list[dict], concurrency: int) -> list[float]:
    """Seconds from a slot freeing (a run's end) to the next run's Preparing: the scheduling cost.

    With `concurrency` slots, the k-th start (k >= concurrency) waits for the (k-concurrency)-th
    end; this does not depend on how long the script itself takes, so it is robust to load.
    """
    starts = sorted(ended(r["status_times"]["Preparing"]) for r in runs)
    ends = sorted(ended(r["end_time"]) for r in runs)
    return [starts[k] - ends[k - concurrency] for k in range(concurrency, len(runs))]


class Bench:
    """A session on the service with the three measurements."""

    def __init__(self, url: str):
        self.url, self.body = url, snapshot({"t.py": SCRIPT})
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"

    def post(self, path: str, config: dict) -> dict:
        resp = self.session.post(self.url + path, files={"snapshot": ("s.tgz", self.body)},
                                 data={"config": json.dumps(config)})
        resp.raise_for_status()
        return resp.json()

    def wait(self, run_id: str) -> dict:
        while (run := self.session.get(f"{self.url}/runs/{run_id}").json())["status"] \
                not in TERMINAL:
            time.sleep(0.02)
        return run

    def plain(self, n: int, one_by_one: bool = False) -> tuple[float, list[dict]]:
        t0 = time.time()
        ids = []
        for i in range(n):
            ids.append(self.post("/experiments/plain/runs", {"script": "t.py",
                                                             "arguments": ["--x", str(i)]})["id"])
            if one_by_one:
                self.wait(ids[-1])
        runs = [self.wait(run_id) for run_id in ids]
        assert all(r["status"] == "Completed" for r in runs), runs
        return max(ended(r["end_time"]) for r in runs) - t0, runs

    def sweep(self, n: int, concurrency: int) -> tuple[float, list[dict]]:
        t0 = time.time()
        parent = self.post("/experiments/sweep/sweeps", {
            "script": "t.py", "sampling": {"type": "grid", "space": {
                "--x": ["choice", [list(range(n))]]}},
            "primary_metric": {"name": "score", "goal": "maximize"},
            "max_total_runs": n, "max_concurrent_runs": concurrency})
        done = self.wait(parent["id"])
        assert done["summary"]["children_by_state"] == {"Completed": n}, done["summary"]
        kids = self.session.get(f"{self.url}/runs/{parent['id']}/children").json()["children"]
        runs = [self.session.get(f"{self.url}/runs/{c['run_id']}").json() for c in kids]
        return max(ended(r["end_time"]) for r in runs) - t0, runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    with BenchService(AMLOCAL_MAX_CONCURRENT_RUNS=str(args.concurrency)) as service:
        bench = Bench(service.url)
        bench.plain(2)  # warm the page cache and the interpreter before timing
        plain, sweep, plain_gaps, sweep_gaps = [], [], [], []
        for _ in range(args.repetitions):
            wall, runs = bench.plain(args.children)
            plain.append(wall)
            plain_gaps += start_gaps(runs, args.concurrency)
            wall, runs = bench.sweep(args.children, args.concurrency)
            sweep.append(wall)
            sweep_gaps += start_gaps(runs, args.concurrency)
        serial = bench.plain(args.children, one_by_one=True)[0]
        p, s = statistics.median(plain), statistics.median(sweep)
        pg, sg = statistics.median(plain_gaps), statistics.median(sweep_gaps)
        result = {"children": args.children, "concurrency": args.concurrency,
                  "plain_s": [round(x, 2) for x in plain], "sweep_s": [round(x, 2) for x in sweep],
                  "plain_median_s": round(p, 2), "sweep_median_s": round(s, 2),
                  "sweep_over_plain": round(s / p, 3), "plain_one_by_one_s": round(serial, 2),
                  "slot_to_next_start_median_s": {"plain": round(pg, 3), "sweep": round(sg, 3)}}
        print(json.dumps(result, indent=2))
        print(f"\n| {args.children} trivial scripts, 2 at a time | wall time (median of "
              f"{args.repetitions}) |\n|---|---|\n| plain runs, queued one after another | "
              f"{p:.2f} s |\n| sweep children (concurrency {args.concurrency}) | {s:.2f} s "
              f"({(s / p - 1) * 100:+.1f} %) |\n| plain runs, each awaited before the next | "
              f"{serial:.2f} s |\n\nslot freed → next start, median: plain {pg * 1000:.0f} ms, "
              f"sweep {sg * 1000:.0f} ms")


if __name__ == "__main__":
    main()
