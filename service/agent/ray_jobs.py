"""Runs on a Ray cluster: one agent loop that submits a compute target's queued runs as Ray jobs.

A run on a `ray` compute target stays Queued until the cluster has a free CPU for it (each job's
entrypoint takes one), then becomes a Ray job: the snapshot with amlocal's bootstrap beside it as
the working directory, the run's environment as the runtime environment (pip packages the
cluster's Python lacks), `python bootstrap.py SCRIPT ARGS...` as the entrypoint, and Azure ML's
run variables with a run-scoped token. The script reports over HTTP (AMLOCAL_RUN_CHANNEL=http)
and uploads outputs/ and logs/ at its end; this loop follows the job: its states, its log into
the run's log, cancel (stop_job), timeout_s, and why it failed.
"""
from __future__ import annotations

import logging
import shlex
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.failure import reason as failure_reason
from training.snapshot import extract, remove_tree

from . import cancel_and_join
from ..computes import (PROBE_ENTRYPOINT, ClusterState, ClusterUnreachable, Probe, RayCluster,
                        RuntimeEnvError, parse_probe, runtime_env_for)
from ..runs import LOG_FILE
from ..settings import Settings
from ..store import Run, Store, Workspace
from ..store.computes import ComputeTarget

log = logging.getLogger("amlocal.ray")
TRAINING = Path(__file__).resolve().parents[2] / "training"
BOOTSTRAP_FILES = ("bootstrap.py", "runcontext.py", "metrics.py", "runapi.py", "failure.py",
                   "standin")  # what bootstrap.py loads from its own folder
BOOTSTRAP_DIR = "_amlocal"  # beside the snapshot's files in the job's working directory
POLL_S = 0.25
LOG_EVERY_S = 1.0
STATE_TTL_S = 1.0  # how long a cluster's state is reused between ticks
UNREACHABLE_S = 10.0  # a cluster silent this long fails its runs
STOP_WAIT_S = 60.0  # a job still going this long after stop_job is left to Ray
TOKEN_SLACK_S = 3600.0  # as the local run queue: the token outlives the run's timeout by this
UNTIMED_TOKEN_S = 30 * 24 * 3600.0
BUSY_WAIT_S = 120.0  # how long a job is re-offered to a cluster whose job agents are not ready
NO_CLIENT = ("the Ray client is not installed in the agent's Python: pip install 'amlocal[ray]'")


class RunFailure(Exception):
    """A run on the cluster ends Failed with this message."""


@dataclass
class Outcome:
    """How the job ended, as the poll loop saw it."""

    status: str  # the Ray job's terminal status
    asked: str | None  # "cancel" | "timeout" | None
    info: Any


def first_line(err: BaseException) -> str:
    """An exception's message in one line (Ray's carry the dashboard's traceback)."""
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:500]


def run_token_env(store: Store, run: Run, url: str) -> dict[str, str]:
    """A new run-scoped token and where to send it (as the local run queue gives a run)."""
    ttl = UNTIMED_TOKEN_S if run.timeout_s is None else run.timeout_s + TOKEN_SLACK_S
    token, expires = store.issue_run_token(run.id, ttl)
    return {"AZUREML_RUN_TOKEN": token, "AZUREML_RUN_TOKEN_EXPIRY": str(int(expires.timestamp())),
            "AZUREML_SERVICE_ENDPOINT": url}


def job_client(address: str) -> Any:
    """Ray's JobSubmissionClient for a dashboard address (the Ray package is optional)."""
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as err:
        raise RunFailure(NO_CLIENT) from err
    try:
        return JobSubmissionClient(address)
    except Exception as err:  # Ray raises ConnectionError, RuntimeError, ValueError here
        raise RunFailure(f"the Ray cluster at {address} did not answer: "
                         f"{first_line(err)}") from err


class ClusterStates:
    """Each cluster's state, asked at most once per STATE_TTL_S; remembers since when a cluster
    has been silent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cache: dict[str, tuple[float, ClusterState | ClusterUnreachable]] = {}
        self.silent_since: dict[str, float] = {}

    def get(self, address: str) -> ClusterState | ClusterUnreachable:
        with self.lock:
            now = time.monotonic()
            hit = self.cache.get(address)
            if hit and now - hit[0] < STATE_TTL_S:
                return hit[1]
            try:
                found: ClusterState | ClusterUnreachable = RayCluster(address, 3.0).state()
                self.silent_since.pop(address, None)
            except ClusterUnreachable as err:
                found = err
                self.silent_since.setdefault(address, now)
            self.cache[address] = (now, found)
            return found

    def silent_for(self, address: str) -> float:
        since = self.silent_since.get(address)
        return 0.0 if since is None else time.monotonic() - since


class RayJobQueue:
    """The agent loop for runs whose compute target is a Ray cluster."""

    def __init__(self, store: Store, ws: Workspace, settings: Settings,
                 unreachable_s: float = UNREACHABLE_S):
        self.store, self.ws, self.settings = store, ws, settings
        self.unreachable_s = unreachable_s
        self.threads: dict[str, tuple[str, threading.Thread]] = {}  # run id -> (compute, thread)
        self.states = ClusterStates()
        self.probes: dict[str, Probe] = {}
        self.probe_lock = threading.Lock()

    # -- the loop ---------------------------------------------------------------------------
    def tick(self) -> None:
        """Start the queued runs of each Ray target for which its cluster has a free CPU."""
        for run_id in [r for r, (_, t) in self.threads.items() if not t.is_alive()]:
            del self.threads[run_id]
        for name in self.store.computes_with_queued_runs():
            target = self.store.get_compute(name)
            state = self.states.get(target.address)
            if isinstance(state, ClusterUnreachable):
                if self.states.silent_for(target.address) >= self.unreachable_s:
                    self.fail_queued(target, f"The compute {name!r} is unreachable: {state}")
                continue
            room = int(state.cpus_total) - sum(c == name for c, _ in self.threads.values())
            while room > 0:
                run = self.store.claim_next_run(compute=name)
                if run is None:
                    break
                self.start(target, run)
                room -= 1

    def slots(self, compute: str) -> int:
        """How many runs may go at once on `compute` (a sweep's limit beside its own)."""
        if compute == "local":
            return self.settings.max_concurrent_runs
        target = self.store.get_compute(compute)
        state = self.states.get(target.address)
        return max(1, int(state.cpus_total)) if isinstance(state, ClusterState) else 1

    def fail_queued(self, target: ComputeTarget, message: str) -> None:
        while (run := self.store.claim_next_run(compute=target.name)) is not None:
            self.store.finish_run(run.id, "Failed", {"message": message, "exit_code": None,
                                                     "stderr_tail": ""})

    def start(self, target: ComputeTarget, run: Run) -> None:
        job = RayJob(self, target, run)
        thread = threading.Thread(target=job.execute, name=f"ray-{run.id}", daemon=True)
        self.threads[run.id] = (target.name, thread)
        thread.start()

    def stop(self) -> None:
        """Cancel this agent's jobs and wait for them to stop."""
        cancel_and_join(self.store, {run_id: thread for run_id, (_, thread) in list(self.threads.items())},
                        self.settings.cancel_grace_s + 15)

    def probe(self, target: ComputeTarget, client: Any) -> Probe:
        """The cluster's Python and packages, asked once per target (a tiny job)."""
        key = f"{target.name}@{target.created_time}"
        with self.probe_lock:
            if key not in self.probes:
                job_id = submit_job(client, entrypoint=PROBE_ENTRYPOINT, entrypoint_num_cpus=0)
                deadline = time.monotonic() + 120
                while not client.get_job_status(job_id).is_terminal():
                    if time.monotonic() > deadline:
                        raise RunFailure(f"the compute {target.name!r} did not run a probe job "
                                         "within 120 s")
                    time.sleep(0.2)
                self.probes[key] = parse_probe(client.get_job_logs(job_id))
            return self.probes[key]


def submit_job(client: Any, **job: Any) -> str:
    """client.submit_job, offered again while Ray answers that it has no job agent ready ("please
    try again later": a node that just started or joined), for up to BUSY_WAIT_S."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while True:
        try:
            return client.submit_job(**job)
        except RuntimeError as err:
            if "try again later" not in str(err) or time.monotonic() > deadline:
                raise
        time.sleep(POLL_S)


class RayJob:
    """One run as one Ray job, followed from submission to its end."""

    def __init__(self, queue: RayJobQueue, target: ComputeTarget, run: Run):
        self.queue, self.target, self.run = queue, target, run
        self.store: Store = queue.store
        self.run_dir = queue.ws.run_dir(run.id)
        self.log_path = self.run_dir / LOG_FILE
        self.log_offset = 0

    def note(self, text: str) -> None:
        """A line of amlocal's own in the run's log."""
        self._append(f"# amlocal: {text}\n")

    def _append(self, text: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(text)

    def execute(self) -> None:
        """Submit, follow, decide; the run always ends (an agent bug included)."""
        try:
            status, error = self.follow()
        except RunFailure as err:
            status, error = "Failed", str(err)
        except Exception as err:
            log.exception("run %s: internal error", self.run.id)
            status, error = "Failed", f"amlocal could not execute the run on Ray: {err}"
        if error:
            self.note(error)
        self.store.finish_run(self.run.id, status, None if error is None else {
            "message": error[:3000], "exit_code": None, "stderr_tail": self.tail()})
        log.info("run %s on %s: %s", self.run.id, self.target.name, status)

    def follow(self) -> tuple[str, str | None]:
        client = job_client(self.target.address)
        probe = self.queue.probe(self.target, client)
        try:
            runtime_env = runtime_env_for(self.run.environment, probe)
        except RuntimeEnvError as err:
            raise RunFailure(f"the run's environment cannot run on {self.target.name!r}: "
                             f"{err}") from err
        if runtime_env.get("pip"):
            self.note(f"installing {runtime_env['pip']['packages']} on the cluster "
                      f"(Python {probe.python} has the rest)")
        runtime_env["env_vars"] = {**runtime_env.get("env_vars", {}), **self.env_vars()}
        job_id = self.submit(client, runtime_env)
        outcome = self.watch(client, job_id)
        self.store.set_run_state(self.run.id, "Finalizing")
        self.fetch_log(client, job_id)
        return self.decide(outcome)

    def env_vars(self) -> dict[str, str]:
        run = self.run
        return {"AMLOCAL_RUN_CHANNEL": "http", "AZUREML_RUN_ID": run.id,
                "AZUREML_EXPERIMENT_NAME": run.experiment,
                "AZUREML_ARM_PROJECT_NAME": run.experiment, "AZUREML_ARM_WORKSPACE_NAME": "amlocal",
                "PYTHONUNBUFFERED": "1",
                **run_token_env(self.store, run, self.queue.settings.url)}

    def working_dir(self) -> Path:
        """The snapshot with the bootstrap in _amlocal/: what Ray uploads as the job's folder."""
        wd = self.run_dir / ".amlocal" / "ray-wd"
        remove_tree(wd)
        wd.mkdir(parents=True)
        try:
            extract(self.queue.ws.snapshot(self.run.snapshot_sha256), wd)
        except Exception as err:
            raise RunFailure(f"could not unpack the snapshot: {err}") from err
        (wd / BOOTSTRAP_DIR).mkdir(exist_ok=True)
        # Ray shares one unpacked folder between jobs whose folders hash the same (and removes
        # it when one of them ends): this file makes every run's folder its own.
        (wd / BOOTSTRAP_DIR / "run_id").write_text(self.run.id, encoding="utf-8")
        for name in BOOTSTRAP_FILES:
            if (TRAINING / name).is_dir():
                shutil.copytree(TRAINING / name, wd / BOOTSTRAP_DIR / name,
                                ignore=shutil.ignore_patterns("__pycache__"))
            elif (TRAINING / name).is_file():
                shutil.copy2(TRAINING / name, wd / BOOTSTRAP_DIR / name)
        return wd

    def submit(self, client: Any, runtime_env: dict) -> str:
        wd = self.working_dir()
        entrypoint = shlex.join(["python", f"{BOOTSTRAP_DIR}/bootstrap.py", self.run.script,
                                 *map(str, self.run.arguments)])
        submission_id = f"amlocal-{self.run.id}-{time.time_ns() % 10**6}"
        try:
            job_id = submit_job(
                client, entrypoint=entrypoint, submission_id=submission_id, entrypoint_num_cpus=1,
                runtime_env={**runtime_env, "working_dir": str(wd)},
                metadata={"amlocal_run_id": self.run.id})
        except Exception as err:
            raise RunFailure(f"the Ray cluster {self.target.name!r} refused the job: "
                             f"{first_line(err)}") from err
        finally:
            remove_tree(wd)
        self.note(f"submitted to compute {self.target.name!r} ({self.target.address}) as Ray job "
                  f"{job_id}")
        self.store.record_events(self.run.id, [{"type": "properties", "properties": {
            "amlocal.compute": self.target.name, "amlocal.ray_job_id": job_id}}])
        return job_id

    def watch(self, client: Any, job_id: str) -> Outcome:
        """Poll the job: states, log, cancel, timeout, a silent cluster; until it ends."""
        asked: str | None = None
        asked_at: float | None = None
        running_since: float | None = None
        silent_since: float | None = None
        last_log = 0.0
        while True:
            try:
                info = client.get_job_info(job_id)
                silent_since = None
            except Exception as err:
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since >= self.queue.unreachable_s:
                    raise RunFailure(f"The compute {self.target.name!r} at "
                                     f"{self.target.address} stopped answering: "
                                     f"{first_line(err)}") from err
                time.sleep(POLL_S)
                continue
            status = info.status.value
            ran = status == "RUNNING" or info.driver_exit_code is not None
            if ran and running_since is None:
                running_since = time.monotonic()
                self.store.set_run_state(self.run.id, "Running")
                if info.driver_node_id:
                    self.store.record_events(self.run.id, [{"type": "properties", "properties": {
                        "amlocal.ray_node_id": info.driver_node_id}}])
            if status in ("SUCCEEDED", "FAILED", "STOPPED") or (
                    asked_at is not None and time.monotonic() - asked_at > STOP_WAIT_S):
                return Outcome(status, asked, info)  # (a job that ignores stop_job: given up)
            if time.monotonic() - last_log >= LOG_EVERY_S:
                self.fetch_log(client, job_id)
                last_log = time.monotonic()
            if asked is None:
                asked = self.should_stop(running_since)
                if asked:
                    asked_at = time.monotonic()
                    try:
                        client.stop_job(job_id)
                    except Exception as err:  # polled again: a silent cluster fails the run
                        log.warning("run %s: stop_job: %s", self.run.id, first_line(err))
            time.sleep(POLL_S)

    def should_stop(self, running_since: float | None) -> str | None:
        if self.store.is_cancel_requested(self.run.id):
            return "cancel"
        timeout = self.run.timeout_s
        if timeout is not None and running_since is not None \
                and time.monotonic() - running_since > timeout:
            return "timeout"
        return None

    def fetch_log(self, client: Any, job_id: str) -> None:
        """Append what the job printed since the last call to the run's log."""
        try:
            text = client.get_job_logs(job_id)
        except Exception:  # the node holding the log is gone: keep what we have
            return
        data = text.encode("utf-8", "replace")
        if len(data) > self.log_offset:
            self._append(data[self.log_offset:].decode("utf-8", "replace"))
            self.log_offset = len(data)

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(line for line in text.splitlines()[-lines:]
                         if not line.startswith("# amlocal:"))

    def decide(self, outcome: Outcome) -> tuple[str, str | None]:
        """The run's end from the job's end and what amlocal asked for."""
        if outcome.asked == "cancel":
            return "Canceled", "Run was canceled"
        if outcome.asked == "timeout":
            return "Failed", f"Run exceeded its timeout of {self.run.timeout_s:g} s"
        wanted = self.store.get_run(self.run.id).requested_status or {}
        if wanted.get("status") == "Failed":  # the script's run.fail(...) over HTTP
            return "Failed", str((wanted.get("error") or {}).get("message") or "Run failed")
        if outcome.status == "SUCCEEDED":
            return "Completed", None
        if outcome.status == "STOPPED":
            return "Failed", f"The Ray job was stopped outside amlocal: {outcome.info.message}"
        node = self.dead_node(outcome.info.driver_node_id)
        if node:
            return "Failed", node
        code = outcome.info.driver_exit_code
        if code is None:  # the driver never ran (the runtime environment, the supervisor)
            return "Failed", f"The Ray job failed: {outcome.info.message}"
        return "Failed", failure_reason(self.tail(200).splitlines(), code)

    def dead_node(self, node_id: str | None) -> str | None:
        """`The Ray node ... died` when the node that ran the job is dead now."""
        if not node_id:
            return None
        try:
            node = RayCluster(self.target.address).state().node(node_id)
        except ClusterUnreachable:
            return None
        if node is None or node["state"] == "ALIVE":
            return None
        why = f": {node['message']}" if node.get("message") else ""
        return (f"The Ray node {node_id} ({node['ip']}) of compute {self.target.name!r} that "
                f"ran this run died{why}")
