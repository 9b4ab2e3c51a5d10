"""A real Ray cluster on 127.0.0.1 for tests and benchmarks: a head and a second node.

The head and a second node are each a `ray start ... --block` in its own process group, with the
dashboard bound to 127.0.0.1 and two CPUs each; they are stopped by their process groups (never
`ray stop`, which would stop every Ray process on the machine). Node death is noticed within a
few seconds (the head's health check is shortened through Ray's own variables).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.polling import wait_for

RAY = Path(sys.executable).with_name("ray")
FAST_HEALTH_CHECK = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "1000",
                     "RAY_health_check_failure_threshold": "4",
                     "RAY_health_check_initial_delay_ms": "1000"}


def ray_environ() -> dict[str, str]:
    """Ray's processes: this venv's `python` first on PATH (the jobs' interpreter), no usage
    statistics, and a fast health check."""
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMLOCAL_", "RAY_"))}
    return {**env, "PATH": f"{bin_dir}:{env.get('PATH', '')}", "RAY_USAGE_STATS_ENABLED": "0",
            **FAST_HEALTH_CHECK}


def stop_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the process group we started, then SIGKILL what is left of it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def kill_strays(temp_dir: Path) -> None:
    """Kill processes that outlived their node and still live in this cluster's folder (a job's
    driver runs in its own session under the session's runtime_resources/)."""
    mine = str(temp_dir)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(mine) or mine in cmdline:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RayCluster:
    """A head and a second node on 127.0.0.1 with two CPUs each."""

    temp_dir: Path
    cpus: int = 2
    with_worker: bool = True
    gcs_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    head: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, args: list[str], log_name: str) -> subprocess.Popen:
        with open(self.temp_dir / f"{log_name}.log", "wb") as log:
            return subprocess.Popen([str(RAY), "start", *args, "--node-ip-address=127.0.0.1",
                                     f"--num-cpus={self.cpus}", f"--temp-dir={self.temp_dir}",
                                     "--disable-usage-stats", "--block"],
                                    env=ray_environ(), stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def start(self) -> "RayCluster":
        self.head = self._start(["--head", "--dashboard-host=127.0.0.1",
                                 f"--dashboard-port={self.dashboard_port}",
                                 f"--port={self.gcs_port}", "--include-dashboard=true"], "head")
        wait_for(lambda: self.head.poll() is None and requests.get(
            self.address + "/api/version", timeout=2).ok, timeout=90, message="the Ray head")
        if not self.with_worker:
            wait_for(lambda: len(self.alive_nodes()) == 1, timeout=90, message="the Ray head node")
            return self
        self.worker = self._start([f"--address=127.0.0.1:{self.gcs_port}",
                                   f"--dashboard-agent-listen-port={free_port()}",
                                   f"--metrics-export-port={free_port()}",
                                   f"--runtime-env-agent-port={free_port()}"], "worker")
        wait_for(lambda: len(self.alive_nodes()) == 2, timeout=90, message="two Ray nodes")
        return self

    def nodes(self) -> list[dict]:
        resp = requests.get(self.address + "/api/v0/nodes", timeout=5)
        return resp.json()["data"]["result"]["result"]

    def alive_nodes(self) -> list[dict]:
        return [n for n in self.nodes() if n["state"] == "ALIVE"]

    def node_ids(self) -> dict[str, str]:
        """{"head": id, "worker": id}."""
        return {("head" if n["is_head_node"] else "worker"): n["node_id"]
                for n in self.alive_nodes()}

    def kill_worker(self) -> None:
        """The second node dies at once (SIGKILL to its process group)."""
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()

    def stop(self) -> None:
        for proc in (self.worker, self.head):
            if proc is not None:
                stop_group(proc)
        kill_strays(self.temp_dir)
