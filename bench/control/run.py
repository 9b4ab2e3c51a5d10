"""Control-API benchmark (issue 2): submit → Running latency, and GET /runs/<id> throughput.

    .venv/bin/python -m bench.control.run [--runs 20] [--duration 10]

Starts a real `amlocal serve` (2 gunicorn workers + the agent) on a temporary workspace on
127.0.0.1, measures, stops it by PID. Needs `wrk` (installed with apt when missing).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import time
from datetime import datetime

import requests

from bench.harness import TOKEN, BenchService, snapshot

def ensure_wrk() -> str:
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True,
                       stdout=subprocess.DEVNULL)
    return shutil.which("wrk")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def submit_to_running(url: str, n: int) -> list[float]:
    """Seconds from sending the POST to the run's recorded Running time."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    body = snapshot({"t.py": "print('hi')\n"})
    latencies = []
    for _ in range(n):
        t0 = time.time()
        run = session.post(f"{url}/experiments/bench/runs", files={"snapshot": ("s.tgz", body)},
                           data={"config": json.dumps({"script": "t.py"})}).json()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = session.get(f"{url}/runs/{run['id']}").json()
            if "Running" in got["status_times"]:
                latencies.append(parse_time(got["status_times"]["Running"]) - t0)
                break
            time.sleep(0.005)
        while session.get(f"{url}/runs/{run['id']}").json()["status"] not in (
                "Completed", "Failed", "Canceled"):
            time.sleep(0.01)
    return latencies


def get_run_rps(url: str, run_id: str, duration: int, conns: int) -> float:
    out = subprocess.run([ensure_wrk(), "-t2", f"-c{conns}", f"-d{duration}s", "-H",
                          f"Authorization: Bearer {TOKEN}", f"{url}/runs/{run_id}"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    with BenchService(AMLOCAL_API_WORKERS="2") as service:
        url = service.url
        lat = submit_to_running(url, args.runs)
        run_id = service.session.get(f"{url}/experiments/bench/runs").json()["runs"][0]["id"]
        rps = get_run_rps(url, run_id, args.duration, args.connections)
        result = {"submit_to_running_median_s": round(statistics.median(lat), 4),
                  "submit_to_running_max_s": round(max(lat), 4), "runs": len(lat),
                  "get_run_rps_2_workers": rps, "connections": args.connections,
                  "duration_s": args.duration}
        print(json.dumps(result, indent=2))
        print(f"\n| metric | target | measured |\n|---|---|---|\n"
              f"| submit → Running, median of {len(lat)} | < 0.5 s | "
              f"{result['submit_to_running_median_s']:.3f} s |\n"
              f"| GET /runs/<id>, 2 workers, {args.connections} conns | ≥ 1,000 req/s | "
              f"{rps:,.0f} req/s |")


if __name__ == "__main__":
    main()
