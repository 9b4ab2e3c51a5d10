"""Slow clients against our scoring server: N connections trickling one byte a second while normal
requests are timed, then the same requests with no slow client, for comparison.

Run from the repository root:  .venv/bin/python -m bench.scoring.slowloris [--requests 1000]

Half of the slow connections trickle their request head, the other half send the head at once and
trickle the body, so both halves of a request are slow somewhere. The normal requests go one after
another over one kept-alive connection (1 row, the no-code entry, one worker: the worst case, as
the default deployment runs), each timed from its first byte sent to its last byte read.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import joblib

from . import fixtures as fx
from . import servers

REPO = Path(__file__).resolve().parents[2]
BODY_LENGTH = 10_000  # what each slow client announces; at one byte a second it never finishes


class Trickle:
    """Slow connections fed one byte each per `interval_s`, from one thread, until stopped."""

    def __init__(self, port: int, count: int, interval_s: float) -> None:
        self.interval_s = interval_s
        self.sockets: list[socket.socket] = []
        self.pending: list[bytes] = []
        head = (f"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {BODY_LENGTH}\r\n\r\n").encode()
        for index in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if index % 2:  # the head at once, then the body a byte at a time
                sock.sendall(head)
                self.pending.append(b"{" + b" " * (BODY_LENGTH - 1))
            else:          # the head itself a byte at a time
                self.pending.append(head)
            self.sockets.append(sock)
        self.sent = [0] * count
        self.closed_by_server = [False] * count
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            for index, sock in enumerate(self.sockets):
                if self.closed_by_server[index] or self.sent[index] >= len(self.pending[index]):
                    continue
                try:
                    sock.sendall(self.pending[index][self.sent[index]:self.sent[index] + 1])
                    self.sent[index] += 1
                except OSError:
                    self.closed_by_server[index] = True
            self.stop.wait(self.interval_s)

    def start(self) -> "Trickle":
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def timed_requests(port: int, body: bytes, count: int, timeout_s: float) -> tuple[list[float], int]:
    """`count` POSTs over one kept-alive connection: (latencies in ms of the answered ones, failures)."""
    latencies, failures = [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    headers = {"Content-Type": "application/json"}
    for _ in range(count):
        started = time.perf_counter()
        try:
            conn.request("POST", "/score", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except OSError:
            failures += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
            continue
        if response.status != 200 or not payload.startswith(b'{"predict"'):
            failures += 1
            continue
        latencies.append((time.perf_counter() - started) * 1000)
    conn.close()
    return latencies, failures


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]


def summary(latencies: list[float], failures: int) -> dict:
    """Answered, failed, p50/p99/max in ms."""
    return {"answered": len(latencies), "failed": failures, "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99), "max_ms": max(latencies, default=float("nan"))}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="normal requests per phase (1000)")
    parser.add_argument("--slow", type=int, default=5, help="slow connections (5)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a slow client's bytes (1)")
    parser.add_argument("--workers", type=int, default=1, help="scoring workers (1)")
    parser.add_argument("--request-timeout", type=float, default=5.0,
                        help="seconds a normal request may take before it counts as failed (5)")
    parser.add_argument("--worker-class", default="", help="WORKER_CLASS (default: the server's)")
    parser.add_argument("--out", type=Path, help="raw results JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run both phases and print them as a markdown table; 0 when every request was answered."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-slowloris-"))
    model, x_test = fx.train_iris_svc()
    (workdir / "model").mkdir()
    joblib.dump(model, workdir / "model" / fx.MODEL_FILE)
    body = json.dumps({"data": x_test[:1].tolist()}).encode()
    spec = servers.ServerSpec(
        "ours-nocode", lambda port, w: [sys.executable, "-m", "scoring", "--entry_script",
                                        str(REPO / "scoring" / "nocode.py"), "--model_dir",
                                        str(workdir / "model"), "--port", str(port),
                                        "--worker_count", str(w)],
        body_kind="azureml", predictions=lambda answer: answer["predict"])
    env = dict(os.environ)
    if args.worker_class:
        env["WORKER_CLASS"] = args.worker_class
    server = servers.start_server(spec, args.workers, env, workdir, workdir / "server.log")
    phases = {}
    try:
        servers.check_loopback_only(server)
        timed_requests(server.port, body, 200, args.request_timeout)  # warm up
        phases["alone"] = summary(*timed_requests(server.port, body, args.requests, args.request_timeout))
        trickle = Trickle(server.port, args.slow, args.interval).start()
        try:
            while min(trickle.sent) < 2:  # every slow client has begun its request
                time.sleep(0.05)
            phases["beside_slow_clients"] = summary(
                *timed_requests(server.port, body, args.requests, args.request_timeout))
            phases["beside_slow_clients"]["slow_clients_still_open"] = sum(
                not closed for closed in trickle.closed_by_server)
        finally:
            trickle.close()
    finally:
        servers.stop_server(server.process)
    print("| phase | answered | failed | p50 (ms) | p99 (ms) | max (ms) |\n|---|---|---|---|---|---|")
    for name, row in phases.items():
        print(f"| {name} | {row['answered']} | {row['failed']} | {row['p50_ms']:.2f} | "
              f"{row['p99_ms']:.2f} | {row['max_ms']:.2f} |")
    out = args.out or workdir / "results.json"
    out.write_text(json.dumps({"command": " ".join(sys.argv), "args": {k: str(v) for k, v in vars(args).items()},
                               "loadavg_1m": os.getloadavg()[0], "phases": phases}, indent=1))
    print(f"\nraw results: {out}")
    return 0 if all(row["failed"] == 0 for row in phases.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
