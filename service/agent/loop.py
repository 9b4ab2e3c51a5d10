"""The agent: one process that claims queued runs and executes them (later: reconciles deployments).

Several loops share one heartbeat: each has a `tick()` called every poll interval.
"""
from __future__ import annotations

import argparse
import fcntl
import functools
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Callable, Protocol

from training.executor import Executor, RunHooks, RunPreparationError, RunResult, RunSpec
from training.sandbox import Sandbox, detect as detect_sandbox
from training.supervise import signal_tree

from ..environments import prepare_run
from ..settings import Settings, load_settings
from ..store import Run, Store, Workspace, init_workspace
from . import cancel_and_join
from .ray_jobs import RayJobQueue
from .container_tests import ContainerTestQueue
from .reconciler import DeploymentReconciler
from .sweeps import SweepController

log = logging.getLogger("amlocal.agent")
INTERRUPTED = "the agent stopped while the run was running"
TOKEN_SLACK_S = 3600.0  # a run token outlives the run's timeout by this much at most
UNTIMED_TOKEN_S = 30 * 24 * 3600.0  # ... or lasts this long for a run without one
UNCONFINED = ("user code is NOT isolated ({why}): training scripts and local scoring servers run "
              "as this service's user and can read the workspace, its api-token and amlocal.db; "
              "install bubblewrap (docker/prepare-sandbox.sh) to confine them")


class Loop(Protocol):
    def tick(self) -> None: ...
    def stop(self) -> None: ...


class StoreHooks(RunHooks):
    """Executor callbacks that land in the store."""

    def __init__(self, store: Store, run_id: str):
        self.store, self.run_id = store, run_id

    def on_state(self, state: str) -> None:
        self.store.set_run_state(self.run_id, state)

    def on_process(self, pid: int) -> None:
        self.store.set_run_pid(self.run_id, pid)

    def on_events(self, events: list[dict]) -> None:
        self.store.record_events(self.run_id, events)

    def cancel_requested(self) -> bool:
        return self.store.is_cancel_requested(self.run_id)


def kill_orphan(run: Run) -> None:
    """Kill the process group a dead agent left behind, if it is still that run's."""
    if not run.pid:
        return
    try:
        environ = Path(f"/proc/{run.pid}/environ").read_bytes()
    except OSError:
        return
    if f"AZUREML_RUN_ID={run.id}".encode() not in environ.split(b"\0"):
        return  # the pid was reused by something else: leave it alone
    signal_tree(run.pid, signal.SIGKILL)  # the supervisor's tree: double-forked processes too
    try:
        os.killpg(run.pid, signal.SIGKILL)
        log.warning("killed the orphaned process group %s of run %s", run.pid, run.id)
    except ProcessLookupError:
        pass


class RunQueue:
    """Claims queued runs up to the concurrency limit and executes each in a thread."""

    def __init__(self, store: Store, ws: Workspace, settings: Settings,
                 executor: Executor | None = None,
                 prepare: Callable[[Run, Path], dict] | None = None,
                 sandbox: Sandbox | None = None):
        self.store, self.ws, self.settings = store, ws, settings
        self.executor = executor or Executor(sandbox=sandbox)
        # resolves a run's environment → RunSpec overrides
        self.prepare = prepare or functools.partial(prepare_run, store, ws)
        self.threads: dict[str, threading.Thread] = {}

    def recover(self) -> None:
        """Runs a previous agent left active become Failed; their processes are killed."""
        for run in self.store.fail_interrupted_runs(INTERRUPTED):
            kill_orphan(run)
            log.warning("run %s was active when the agent stopped: marked Failed", run.id)

    def tick(self) -> None:
        for run_id in [r for r, t in self.threads.items() if not t.is_alive()]:
            del self.threads[run_id]
        while len(self.threads) < self.settings.max_concurrent_runs:
            run = self.store.claim_next_run()
            if run is None:
                return
            thread = threading.Thread(target=self._execute, args=(run,), name=f"run-{run.id}",
                                      daemon=True)
            self.threads[run.id] = thread
            thread.start()

    def _spec(self, run: Run) -> RunSpec:
        overrides = self.prepare(run, self.ws.run_dir(run.id))
        overrides["env"] = {**overrides.get("env", {}), **self._run_token_env(run)}
        return RunSpec(run_id=run.id, experiment=run.experiment, run_dir=self.ws.run_dir(run.id),
                       snapshot=self.ws.snapshot(run.snapshot_sha256), script=run.script,
                       arguments=list(run.arguments), timeout_s=run.timeout_s,
                       cancel_grace_s=self.settings.cancel_grace_s, **overrides)

    def _run_token_env(self, run: Run) -> dict[str, str]:
        """A new run-scoped token and where to send it, under Azure ML's variable names."""
        ttl = UNTIMED_TOKEN_S if run.timeout_s is None else run.timeout_s + TOKEN_SLACK_S
        token, expires = self.store.issue_run_token(run.id, ttl)
        return {"AZUREML_RUN_TOKEN": token,
                "AZUREML_RUN_TOKEN_EXPIRY": str(int(expires.timestamp())),
                "AZUREML_SERVICE_ENDPOINT": self.settings.url}

    def _execute(self, run: Run) -> None:
        try:
            result = self.executor.execute(self._spec(run), StoreHooks(self.store, run.id))
        except RunPreparationError as err:  # prepare() refused it (its environment did not build)
            log.warning("run %s: %s", run.id, err)
            result = RunResult("Failed", None, {"message": str(err), "exit_code": None,
                                                "stderr_tail": ""})
        except Exception as err:  # an agent bug must not leave the run hanging
            log.exception("run %s: internal error", run.id)
            result = RunResult("Failed", None, {"message": f"amlocal could not execute the run: "
                                                           f"{err}", "exit_code": None,
                                                "stderr_tail": ""})
        self.store.finish_run(run.id, result.status, result.error)
        log.info("run %s %s", run.id, result.status)

    def stop(self) -> None:
        """Cancel what is running and wait for it to end (the grace period applies)."""
        cancel_and_join(self.store, self.threads, self.settings.cancel_grace_s + 10)


class Agent:
    """Holds the workspace lock and drives every loop until told to stop."""

    def __init__(self, settings: Settings, loops: list[Loop] | None = None):
        self.settings = settings
        self.ws = init_workspace(settings.workspace)
        self.store = Store(self.ws.db_path)
        # User code sees neither the workspace nor this process (README: "User code and its
        # privileges"); where bubblewrap is missing it runs unconfined, and the log says so.
        self.sandbox, how = detect_sandbox(hide=[self.ws.root], show=[self.ws.envs_dir])
        if self.sandbox is None:
            log.warning(UNCONFINED.format(why=how))
        else:
            log.info(how)
        self.runs = RunQueue(self.store, self.ws, settings, sandbox=self.sandbox)
        self.ray = RayJobQueue(self.store, self.ws, settings)  # runs on a Ray compute target
        # sweeps first: a child created in this tick is claimed by the run queue in the same tick
        self.loops: list[Loop] = loops if loops is not None else [
            SweepController(self.store, self.ws, settings, slots=self.ray.slots), self.runs,
            self.ray,
            DeploymentReconciler(self.store, self.ws, settings, sandbox=self.sandbox),
            ContainerTestQueue(self.store, self.ws, settings)]
        self.stopping = threading.Event()
        self._lock_file = None

    def acquire_lock(self) -> None:
        """Only one agent per workspace."""
        self._lock_file = open(self.ws.root / "agent.lock", "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise SystemExit(f"another agent already runs on {self.ws.root}") from err
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()

    def run_forever(self) -> None:
        """Recover, then tick every loop until `stopping` is set."""
        self.acquire_lock()
        self.runs.recover()
        for stray in self.store.clean_stray_model_dirs():
            log.warning("removed %s: a model folder with no registered version", stray)
        log.info("agent ready on %s", self.ws.root)
        while not self.stopping.is_set():
            for loop in self.loops:
                try:
                    loop.tick()
                except Exception:
                    log.exception("agent loop %s failed; it will be retried", type(loop).__name__)
            self.stopping.wait(self.settings.agent_poll_s)
        for loop in self.loops:
            loop.stop()


def main(argv: list[str] | None = None) -> None:
    """`python -m service.agent [--workspace DIR]`."""
    parser = argparse.ArgumentParser(prog="amlocal-agent")
    parser.add_argument("--workspace")
    parser.add_argument("--url", help="the control API's URL, given to runs as "
                                      "AZUREML_SERVICE_ENDPOINT (default: AMLOCAL_URL)")
    args = parser.parse_args(argv)
    settings = load_settings(workspace=args.workspace, url=args.url)
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname).1s [%(process)d] %(name)s - %(message)s")
    agent = Agent(settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.stopping.set())
    agent.run_forever()

