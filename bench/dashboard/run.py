"""The dashboard's runs table on an experiment of 10,000 runs: how long a page takes to render.

    .venv/bin/python -m bench.dashboard.run [--runs 10000] [--repetitions 20]

Fills a fresh workspace's database with N finished runs in one experiment (3 metrics a run:
`Accuracy` once, `loss` 5 times, `Kernel type` a string; tags; a tenth Failed), starts a real
`amlocal serve` on 127.0.0.1, and times `GET /ui/experiments/big` (bearer token, the whole HTML
page, 50 rows a page) for several sorts, filters and pages; beside it, in the same run, the API's
`GET /experiments/big/runs?limit=50` (JSON of 50 runs) as the yardstick. Prints a markdown table
of medians and p95s; the issue's target is < 300 ms for the page.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path

from bench.harness import BenchService
from service.store import Store, init_workspace

TARGET_MS = 300.0
QUERIES = {
    "newest first (default)": "",
    "sort by Accuracy (last)": "?sort=m:last:Accuracy&order=desc",
    "sort by loss (min), asc": "?sort=m:min:loss&order=asc",
    "sort by duration": "?sort=duration",
    "status=Failed": "?status=Failed",
    "tag kernel=rbf": "?tag=kernel%3Drbf",
    "page 100 of 200": "?page=100",
}


def seed(workspace: Path, runs: int) -> None:
    """N finished runs with metrics in experiment `big`, in one transaction."""
    store = Store(init_workspace(workspace).db_path)
    with store.transaction() as conn:
        conn.execute("INSERT INTO experiments (name, created_time) VALUES ('big', "
                     "'2026-01-01T00:00:00.000Z')")
        for i in range(runs):
            run_id = f"big_{1700000000 + i}_{uuid.uuid4().hex[:8]}"
            start = f"2026-01-01T00:{i // 3600 % 60:02d}:{i % 60:02d}.000Z"
            end = f"2026-01-01T01:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
            status = "Failed" if i % 10 == 0 else "Completed"
            kernel = ("linear", "rbf", "poly")[i % 3]
            conn.execute(
                "INSERT INTO runs (id, experiment, status, script, arguments, tags, "
                "snapshot_sha256, status_times, created_time, start_time, end_time) VALUES "
                "(?, 'big', ?, 'train.py', ?, ?, ?, '{}', ?, ?, ?)",
                (run_id, status, json.dumps(["--kernel", kernel, "--penalty", str(i % 7)]),
                 json.dumps({"kernel": kernel}), "0" * 64, start, start, end))
            events = [("Kernel type", json.dumps(kernel)), ("Accuracy", json.dumps(i % 97 / 97))]
            events += [("loss", json.dumps(1 / (step + 1 + i % 5))) for step in range(5)]
            conn.executemany("INSERT INTO metrics (run_id, seq, name, kind, value, step, "
                             "logged_time) VALUES (?, ?, ?, 'scalar', ?, NULL, ?)",
                             [(run_id, seq, name, value, start)
                              for seq, (name, value) in enumerate(events, 1)])
    store.close()


def timed(service: BenchService, path: str, repetitions: int) -> list[float]:
    """Milliseconds per GET (after two warm-ups), checking each answer is a 200."""
    times = []
    for i in range(repetitions + 2):
        started = time.perf_counter()
        resp = service.session.get(service.url + path, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
        if i >= 2:
            times.append(elapsed)
    return times


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--repetitions", type=int, default=20)
    args = parser.parse_args()
    service = BenchService()
    started = time.perf_counter()
    seed(Path(service.workspace), args.runs)
    print(f"seeded {args.runs} runs in {time.perf_counter() - started:.1f} s")
    rows = []
    with service:
        api = timed(service, "/experiments/big/runs?limit=50", args.repetitions)
        for label, query in QUERIES.items():
            page = timed(service, "/ui/experiments/big" + query, args.repetitions)
            rows.append((label, statistics.median(page), p95(page)))
    api_median = statistics.median(api)
    print(f"\n{args.runs} runs, {args.repetitions} repetitions; API JSON of 50 runs: median "
          f"{api_median:.1f} ms, p95 {p95(api):.1f} ms\n")
    print("| runs page | median ms | p95 ms | / API JSON | < 300 ms |\n| --- | ---: | ---: | ---: | --- |")
    for label, median, high in rows:
        print(f"| {label} | {median:.1f} | {high:.1f} | {median / api_median:.2f} | "
              f"{'yes' if high < TARGET_MS else 'NO'} |")


if __name__ == "__main__":
    main()
