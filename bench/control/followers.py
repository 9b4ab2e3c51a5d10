"""Log followers vs. the rest of the API (issue 13): `GET /health` latency while N clients follow
a running run's log (`GET /runs/<id>/logs?follow=true`).

    .venv/bin/python -m bench.control.followers [--followers 100] [--probes 200] [--tree DIR]
        [--interval 0.02]

Starts a real `amlocal serve` (AMLOCAL_API_WORKERS=2, the agent) on a temporary workspace on
127.0.0.1, submits a run that prints a line every 0.1 s for ten minutes, and measures `/health`
(one new connection per probe, as a load balancer's probe does): first with no follower, then with
N followers connected and streamed (one client thread drains them all). `--tree` runs the service
from another checkout (e.g. `git archive` of an older commit) to compare on the same machine.
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.harness import REPO, TOKEN, free_port, snapshot, wait_for

SCRIPT = ("import time\nfor i in range(6000):\n    print('line', i, flush=True)\n"
          "    time.sleep(0.1)\n")


class Service:
    """`amlocal serve` from `tree` on a temporary workspace; stopped by PID on exit."""

    def __init__(self, tree: Path):
        self.tree, self.port = tree, free_port()
        self.workspace = tempfile.mkdtemp(prefix="amlocal-bench-")
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "AMLOCAL_API_TOKEN": TOKEN, "AMLOCAL_API_WORKERS": "2",
                    "PYTHONPATH": str(tree)}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Service":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port),
             "--workspace", self.workspace], cwd=self.tree, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: requests.get(self.url + "/health", timeout=5).ok, 60, "the service")
        return self

    def __exit__(self, *_exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


class Followers:
    """N raw connections following one run's log, drained by one thread."""

    def __init__(self, port: int, run_id: str, n: int):
        self.selector = selectors.DefaultSelector()
        self.received = [0] * n
        self.headers = [False] * n
        request = (f"GET /runs/{run_id}/logs?follow=true HTTP/1.1\r\nHost: bench\r\n"
                   f"Authorization: Bearer {TOKEN}\r\n\r\n").encode()
        for i in range(n):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(request)
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, i)
        self.stopping = False
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.stopping:
            for key, _ in self.selector.select(timeout=0.1):
                data = key.fileobj.recv(65536)
                if data:
                    self.received[key.data] += len(data)
                    self.headers[key.data] |= data.startswith(b"HTTP/1.1 200")
                else:
                    self.selector.unregister(key.fileobj)

    def answered(self) -> int:
        return sum(self.headers)

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()


def probe_health(url: str, n: int, interval: float, timeout: float = 10.0) -> dict:
    """Latency of n `GET /health`, `interval` s apart, each on a new connection (ms); timeouts
    counted."""
    times, timeouts = [], 0
    for _ in range(n):
        time.sleep(interval)
        started = time.perf_counter()
        try:
            requests.get(url + "/health", timeout=timeout).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        except requests.Timeout:
            timeouts += 1
    times.sort()
    pick = (lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 2)) if times else (
        lambda q: None)
    return {"p50_ms": pick(0.5), "p99_ms": pick(0.99),
            "max_ms": round(times[-1], 2) if times else None,
            "mean_ms": round(statistics.fmean(times), 2) if times else None,
            "answered": len(times), "timeouts": timeouts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--followers", type=int, default=100)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.02, help="s between probes")
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout to serve from")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with Service(args.tree.resolve()) as service:
        run = requests.post(f"{service.url}/experiments/bench/runs", headers=headers,
                            files={"snapshot": ("s.tgz", snapshot({"t.py": SCRIPT}))},
                            data={"config": json.dumps({"script": "t.py"})}, timeout=60).json()
        wait_for(lambda: requests.get(f"{service.url}/runs/{run['id']}", headers=headers,
                                      timeout=10).json()["status"] == "Running", 60, "Running")
        alone = probe_health(service.url, args.probes, args.interval)
        followers = Followers(service.port, run["id"], args.followers)
        deadline = time.monotonic() + 30
        while followers.answered() < args.followers and time.monotonic() < deadline:
            time.sleep(0.1)
        answered_before = followers.answered()
        before = sum(followers.received)
        loaded = probe_health(service.url, args.probes, args.interval)
        streamed = sum(followers.received) - before
        result = {"tree": str(args.tree), "followers": args.followers,
                  "followers_answered_within_30s": answered_before,
                  "followers_bytes_during_probes": streamed,
                  "health_no_followers": alone, "health_with_followers": loaded}
        followers.close()
        requests.post(f"{service.url}/runs/{run['id']}/cancel", headers=headers, timeout=60)
    print(json.dumps(result, indent=2))
    print(f"\n| followers | answered | /health p50 / p99 / max, alone (ms) | "
          f"with followers (ms) | timeouts |\n|---|---|---|---|---|\n"
          f"| {args.followers} | {answered_before} | {alone['p50_ms']} / {alone['p99_ms']} / "
          f"{alone['max_ms']} | {loaded['p50_ms']} / {loaded['p99_ms']} / {loaded['max_ms']} | "
          f"{loaded['timeouts']} of {args.probes} |")


if __name__ == "__main__":
    main()
