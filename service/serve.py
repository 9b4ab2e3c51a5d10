"""`amlocal serve`: the control API under gunicorn plus the agent, supervised together."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from .settings import Settings
from .store import init_workspace, load_or_create_token

log = logging.getLogger("amlocal.serve")
RESTART_BACKOFF_S = (0.5, 1, 2, 5, 10)


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["AMLOCAL_WORKSPACE"] = str(settings.workspace)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def api_command(settings: Settings, host: str, port: int) -> list[str]:
    """gunicorn running the factory with gevent workers: a waiting view (a log follower) holds a
    greenlet, not a thread (service/api/server.py says why)."""
    return [sys.executable, "-m", "gunicorn", "--workers", str(settings.api_workers),
            "--worker-class", "service.api.server.ApiWorker", "--worker-connections", "1000",
            "--bind", f"{host}:{port}", "--graceful-timeout", "5", "--log-level", "warning",
            "service.wsgi:app"]


def agent_command(settings: Settings, url: str | None = None) -> list[str]:
    """The agent; `url` is where its runs reach the control API (AZUREML_SERVICE_ENDPOINT)."""
    return [sys.executable, "-m", "service.agent", "--workspace", str(settings.workspace),
            *(["--url", url] if url else [])]


def local_url(host: str, port: int) -> str:
    """The control API's URL as a process on this machine reaches it."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Supervisor:
    """Starts the API and the agent; restarts the agent if it dies; stops both on a signal."""

    def __init__(self, settings: Settings, host: str, port: int):
        self.settings, self.host, self.port = settings, host, port
        self.api_url = local_url(host, port)  # runs' AZUREML_SERVICE_ENDPOINT
        self.env = _env(settings)
        self.api: subprocess.Popen | None = None
        self.agent: subprocess.Popen | None = None
        self.stopping = False
        self.agent_restarts = 0

    def start(self) -> None:
        ws = init_workspace(self.settings.workspace)  # migrate once, before any worker does
        load_or_create_token(ws, self.settings.api_token)
        self.api = subprocess.Popen(api_command(self.settings, self.host, self.port), env=self.env)
        self.agent = subprocess.Popen(agent_command(self.settings, self.api_url), env=self.env)
        log.info("amlocal serving %s on http://%s:%s (api pid %s, agent pid %s)",
                 self.settings.workspace, self.host, self.port, self.api.pid, self.agent.pid)

    def watch(self) -> int:
        """Block until stopped; returns the exit code."""
        while not self.stopping:
            if self.api.poll() is not None:
                log.error("the API server exited with %s; stopping", self.api.returncode)
                self.stop()
                return 1
            if self.agent.poll() is not None and not self.stopping:
                delay = RESTART_BACKOFF_S[min(self.agent_restarts, len(RESTART_BACKOFF_S) - 1)]
                log.error("the agent exited with %s; restarting in %ss", self.agent.returncode,
                          delay)
                time.sleep(delay)
                self.agent_restarts += 1
                if not self.stopping:
                    self.agent = subprocess.Popen(agent_command(self.settings, self.api_url),
                                                  env=self.env)
            time.sleep(0.2)
        return 0

    def stop(self, *_args) -> None:
        """SIGTERM both children, then SIGKILL what is left after a grace period."""
        self.stopping = True
        procs = [p for p in (self.api, self.agent) if p is not None and p.poll() is None]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.cancel_grace_s + 15
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 5000) -> int:
    """Run until SIGTERM or Ctrl-C."""
    sup = Supervisor(settings, host, port)
    signal.signal(signal.SIGTERM, lambda *_: setattr(sup, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(sup, "stopping", True))
    sup.start()
    code = sup.watch()
    sup.stop()
    return code
