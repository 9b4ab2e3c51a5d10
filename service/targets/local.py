"""The local target: the scoring server as a process group on 127.0.0.1, started by the agent.

Each generation runs `python -m scoring` in its own session (so signals to the agent do not reach
it), binding the deployment's port with SO_REUSEPORT and a private health port. Its pid and a
marker in its environment let a restarted agent adopt it: a reused pid is never mistaken for it.

With a `Sandbox` (training/sandbox.py) the server runs confined: it sees its generation's app
folder and models read-only, not the workspace around them, nor the agent's processes. Then the
pid is bubblewrap's, the marker stays in bubblewrap's environment, and a graceful stop signals
the server inside.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import scoring
from training.executor import user_environ
from training.sandbox import Sandbox, interpreter_paths
from training.supervise import descendants

from ..environments import ScoringEnvironmentError, build_scoring_environment
from ..store.deployments import Deployment
from . import StartRequest
from .health import StartFailed
from .layout import AppLayout

log = logging.getLogger("amlocal.targets.local")
MARKER = "AMLOCAL_DEPLOYMENT"
GRACE_S = 35.0  # gunicorn's graceful timeout is 30 s: in-flight requests finish first
SCORING_ROOT = Path(scoring.__file__).resolve().parent.parent  # where `-m scoring` is found


def server_command(python: str, layout: AppLayout, port: int, health_port: int,
                   worker_count: int) -> list[str]:
    """`python -m scoring` with Azure's options plus the health port and SO_REUSEPORT."""
    return [python, "-m", "scoring", "--entry_script", layout.entry_script,
            "--model_dir", str(layout.model_dir), "--port", str(port),
            "--health_port", str(health_port), "--worker_count", str(worker_count),
            "--host", "127.0.0.1", "--reuse_port"]


def _marker(name: str, generation: int) -> str:
    return f"{name}/{generation}"


def _read_environ(pid: int) -> list[bytes] | None:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


class LocalTarget:
    """Starts, watches and stops scoring servers as local process groups."""

    kind = "local"
    check_interval_s = 0.5

    remote = False

    def __init__(self, envs_dir: Path, python: str | None = None, sandbox: Sandbox | None = None):
        self.envs_dir = envs_dir
        self.python = python or sys.executable
        self.sandbox = sandbox
        self.children: dict[int, subprocess.Popen] = {}  # what this agent started (to reap)

    def _interpreter(self, request: StartRequest) -> tuple[str, dict[str, str]]:
        """Build (or reuse) the generation's scoring environment: its python and variables."""
        request.layout.log_dir.mkdir(parents=True, exist_ok=True)
        if request.environment is None:
            return self.python, {}
        try:
            python, env = build_scoring_environment(request.environment, self.envs_dir,
                                                    request.layout.log_dir / "environment.log")
        except ScoringEnvironmentError as err:
            raise StartFailed(str(err)) from err
        if python:
            log.info("deployment %s: scoring in %s (%s)", request.name, python,
                     request.environment.reason)
        return str(python or self.python), env

    def start(self, request: StartRequest) -> dict[str, Any]:
        """Start the generation's server; returns its runtime facts (JSON-able).

        cpu_cores/memory_gb are not enforced for a local process (as Azure's local target)."""
        python, extra = self._interpreter(request)
        layout = request.layout
        env = user_environ()  # score.py never sees the service's token or workspace
        env.update({"AML_APP_ROOT": str(layout.app_root),
                    "AZUREML_MODEL_DIR": str(layout.model_dir),
                    "PYTHONUNBUFFERED": "1", MARKER: _marker(request.name, request.generation),
                    "SERVICE_NAME": request.name})
        if request.keys:
            env["AMLOCAL_SCORING_KEYS"] = ",".join(request.keys)
        env.update(request.scoring_env)
        env.update(extra)
        command = server_command(python, layout, request.port, request.health_port,
                                 request.worker_count)
        if self.sandbox is not None:
            # Not tied to the agent's life: a deployment outlives an agent restart.
            command = self.sandbox.command(
                command, layout.app_root, die_with_parent=False, unset_env=[MARKER],
                readable=[layout.app_root, layout.model_dir, SCORING_ROOT,
                          *interpreter_paths(python)])
        with open(layout.log_path, "ab") as out:
            proc = subprocess.Popen(command, cwd=layout.app_root, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.children[proc.pid] = proc
        return {"kind": self.kind, "name": request.name, "pid": proc.pid,
                "generation": request.generation, "health_port": request.health_port,
                "log": str(layout.log_path), "sandboxed": self.sandbox is not None}

    def _ours(self, runtime: dict) -> bool:
        """The pid is still the server this runtime describes (not a reused pid)."""
        pid = runtime.get("pid")
        if not pid:
            return False
        environ = _read_environ(pid)
        if environ is None:
            return False
        name = runtime.get("name")
        wanted = f"{MARKER}={name}/{runtime['generation']}".encode() if name else None
        return wanted is None or wanted in environ

    def is_running(self, runtime: dict) -> bool:
        """Whether the generation's master process is alive."""
        pid = runtime.get("pid")
        proc = self.children.get(pid)
        if proc is not None:
            if proc.poll() is None:
                return True
            del self.children[pid]
            return False
        return self._ours(runtime) and not _is_zombie(pid)

    def stop(self, runtime: dict, grace_s: float = GRACE_S) -> None:
        """SIGTERM the master (gunicorn lets in-flight requests finish), then SIGKILL the group."""
        pid = runtime.get("pid")
        if not pid or not (pid in self.children or self._ours(runtime)):
            return
        try:
            os.kill(_server_pid(runtime), signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace_s
        while self.is_running(runtime) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.kill_group(runtime)

    def kill_group(self, runtime: dict) -> None:
        """SIGKILL whatever is left of the generation's process group (orphaned workers too)."""
        pid = runtime.get("pid")
        if not pid:
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc = self.children.pop(pid, None)
        if proc is not None:
            proc.wait()

    def delete(self, dep: Deployment) -> None:
        """Nothing beyond the process groups, which the reconciler has stopped."""

    def logs(self, runtime: dict, lines: int) -> str:
        """The last `lines` lines of the generation's log file."""
        return tail(Path(runtime["log"]), lines) if runtime.get("log") else ""


def _server_pid(runtime: dict) -> int:
    """The scoring server's master: the pid itself, or the first process inside the sandbox
    (SIGTERM to bubblewrap would end bubblewrap, not drain the server)."""
    pid = runtime["pid"]
    if runtime.get("sandboxed"):
        for child, comm in descendants(pid):
            if comm != "bwrap":
                return child
    return pid


def tail(path: Path, lines: int, max_bytes: int = 8 * 1024 * 1024) -> str:
    """The last `lines` lines of a text file (reads at most `max_bytes` from its end)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:]) + ("\n" if text else "")
