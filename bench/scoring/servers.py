"""Starting, probing, measuring and stopping one scoring server process (ours or a peer's)."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# Helper processes that multiprocessing adds beside real workers; they serve nothing.
NOT_WORKERS = ("multiprocessing.resource_tracker", "multiprocessing.semaphore_tracker",
               "multiprocessing.forkserver")


class ServerError(RuntimeError):
    """A server did not start, did not answer correctly, or could not be stopped."""


@dataclass(frozen=True)
class ServerSpec:
    """How to run one server: its command for a port and worker count, its routes and body format."""

    name: str
    argv: Callable[[int, int], list[str]]
    body_kind: str                 # "azureml" ({"data": rows}) or "mlflow" ({"inputs": rows})
    predictions: Callable[[object], list]
    health_path: str = "/"
    score_path: str = "/score"
    env: tuple[tuple[str, str], ...] = ()  # added to the shared environment (PATH for a venv)


@dataclass
class RunningServer:
    """A started server: its process, port and how long it took to answer its health route."""

    spec: ServerSpec
    process: subprocess.Popen
    port: int
    workers: int
    startup_s: float
    log_path: Path

    @property
    def score_url(self) -> str:
        """The URL wrk loads."""
        return f"http://127.0.0.1:{self.port}{self.spec.score_path}"


def free_port() -> int:
    """A port nothing listens on now (bind port 0 on 127.0.0.1 and read what the kernel chose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 timeout: float = 5.0) -> tuple[int, bytes]:
    """One HTTP request to 127.0.0.1:port; returns (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def start_server(spec: ServerSpec, workers: int, base_env: dict[str, str], cwd: Path,
                 log_path: Path, timeout: float = 120.0) -> RunningServer:
    """Start the server and wait until its health route answers 200; the wait is the start-up time."""
    port = free_port()
    env = dict(base_env)
    env.update(spec.env)
    log = log_path.open("ab")
    started = time.monotonic()
    process = subprocess.Popen(spec.argv(port, workers), cwd=cwd, env=env, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    deadline = started + timeout
    while True:
        try:
            if http_request(port, "GET", spec.health_path, timeout=1.0)[0] == 200:
                break
        except OSError:
            pass  # not listening yet
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(process)
            raise ServerError(f"{spec.name} ({workers} workers) did not become healthy; "
                              f"exit code {process.returncode}; see {log_path}")
        time.sleep(0.01)  # polling granularity of the start-up figure
    return RunningServer(spec, process, port, workers, time.monotonic() - started, log_path)


def check_predictions(server: RunningServer, body: bytes, expected: list) -> None:
    """POST one body and insist on 200 and the model's own predictions, so wrk loads a working path."""
    status, payload = http_request(server.port, "POST", server.spec.score_path, body, timeout=30.0)
    if status != 200:
        raise ServerError(f"{server.spec.name}: POST {server.spec.score_path} answered {status}: "
                          f"{payload[:300]!r}")
    got = server.spec.predictions(json.loads(payload))
    if [int(x) for x in got] != [int(x) for x in expected]:
        raise ServerError(f"{server.spec.name}: wrong predictions {got[:5]}... (want {expected[:5]}...)")


def process_table() -> dict[int, int]:
    """Map every live pid to its parent pid, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                # The command name may hold spaces and parentheses; fields resume after the last ')'.
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        parents[int(entry)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """All processes below `pid`, parents before children."""
    parents = process_table()
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop(0)
        kids = sorted(p for p, parent in parents.items() if parent == current)
        found.extend(kids)
        frontier.extend(kids)
    return found


def cmdline(pid: int) -> str:
    """The process's command line, spaces between arguments ('' when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def worker_pids(pid: int) -> list[int]:
    """The serving workers under `pid`: the leaves of its process tree, minus multiprocessing helpers."""
    tree = [pid] + descendants(pid)
    parents = process_table()
    leaves = [p for p in tree if not any(parents.get(q) == p for q in tree)]
    return [p for p in leaves if not any(helper in cmdline(p) for helper in NOT_WORKERS)]


def _socket_inodes(pids: list[int]) -> set[str]:
    """Inodes of the sockets the processes hold open."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def listening_hosts(pid: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp* spells them) the process tree listens on."""
    inodes = _socket_inodes([pid] + descendants(pid))
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="utf-8") as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    hosts.add(fields[1].split(":")[0])
    return hosts


LOOPBACK_HEX = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1


def beyond_loopback(hosts: set[str]) -> set[str]:
    """The listening addresses (hex) that are not 127.0.0.1 or ::1."""
    return hosts - LOOPBACK_HEX


def check_loopback_only(server: RunningServer) -> None:
    """Refuse to go on with a server that listens on anything but loopback."""
    wide = beyond_loopback(listening_hosts(server.process.pid))
    if wide:
        raise ServerError(f"{server.spec.name} listens beyond loopback ({sorted(wide)}); stopped")


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ServerError(f"no VmRSS for pid {pid}")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by `pid` and every process below it."""
    total = 0
    for each in [pid] + descendants(pid):
        try:
            with open(f"/proc/{each}/stat", encoding="utf-8") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def memory(server: RunningServer) -> dict[str, float]:
    """Summed RSS (MiB) of the workers and of the whole process tree, and how many workers were seen."""
    workers = worker_pids(server.process.pid)
    tree = [server.process.pid] + descendants(server.process.pid)
    return {"workers_seen": len(workers),
            "worker_rss_mib": sum(rss_kib(p) for p in workers) / 1024,
            "tree_rss_mib": sum(rss_kib(p) for p in tree) / 1024}


def stop_server(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the started process, then any of its descendants still alive, each by pid."""
    below = [(pid, cmdline(pid)) for pid in descendants(process.pid)]
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    for pid, command in below:  # started by our process, so ours to stop if left behind
        if command and cmdline(pid) == command:  # same command: not a reused pid
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
