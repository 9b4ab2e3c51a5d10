"""The run executor: one object, one verb. `Executor().execute(spec, hooks) -> RunResult`.

Layout under `spec.run_dir`: `wd/` the extracted snapshot (the script's cwd, with `outputs/` and
`logs/`), `user_logs/std_log.txt` stdout+stderr as they come, `.amlocal/events.jsonl` the run
context's events. At Finalizing `wd/outputs` and `wd/logs` move to `run_dir/` and `wd/` goes.
The executor only reports (return value, files, hook calls); it never touches the store.

Every run is started under `supervise.py`, a child subreaper that ends the run's whole process
tree with it (a double-forked daemon included); with a `Sandbox` the script also runs confined
(training/sandbox.py): it sees its own run folder, not the workspace around it.
"""
from __future__ import annotations

import os
import posixpath
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from training.sandbox import Sandbox, interpreter_paths
from training.failure import reason as failure_reason
from training.snapshot import SnapshotError, extract, remove_tree
from training.streams import OutputPump, EventTail
from training.supervise import signal_tree

BOOTSTRAP = Path(__file__).resolve().with_name("bootstrap.py")
SUPERVISOR = Path(__file__).resolve().with_name("supervise.py")
STOP_MARGIN_S = 5.0  # beyond the grace period, for the supervisor to kill and reap the tree
POLL_S = 0.05
MAX_MESSAGE_CHARS = 3000
EVENTS_FILE = Path(".amlocal") / "events.jsonl"
STD_LOG = Path("user_logs") / "std_log.txt"
KEPT_DIRS = ("outputs", "logs")


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to execute one run."""

    run_id: str
    experiment: str
    run_dir: Path
    snapshot: Path
    script: str
    arguments: list[str] = field(default_factory=list)
    python: str = sys.executable  # interpreter of the run's environment
    timeout_s: float | None = None
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables
    cancel_grace_s: float = 3.0


class RunHooks:
    """Callbacks the agent overrides to follow a run; the defaults do nothing."""

    def on_state(self, state: str) -> None:
        """Called with "Preparing", "Running", "Finalizing" as the run enters each."""

    def on_process(self, pid: int) -> None:
        """Called once the run's supervisor starts; pid is also its process group id."""

    def on_events(self, events: list[dict]) -> None:
        """Called with new run-context events, in order, while the run goes and at its end."""

    def cancel_requested(self) -> bool:
        """Polled every ~50 ms; True stops the run as Canceled."""
        return False


@dataclass(frozen=True)
class RunResult:
    """How a run ended."""

    status: str  # "Completed" | "Failed" | "Canceled"
    exit_code: int | None
    error: dict | None  # {"message", "exit_code", "stderr_tail"} for Failed/Canceled


class RunPreparationError(ValueError):
    """The run cannot start: bad snapshot, script missing, interpreter missing."""


def _failure(status: str, message: str, exit_code: int | None,
             stderr_tail: list[str], **extra: Any) -> RunResult:
    """A Failed or Canceled result with the error dict the API shows."""
    error = {"message": message[:MAX_MESSAGE_CHARS], "exit_code": exit_code,
             "stderr_tail": "\n".join(stderr_tail), **extra}
    return RunResult(status=status, exit_code=exit_code, error=error)


def user_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables user code (a script, a score.py, a pickle) may see: the process's without
    amlocal's own `AMLOCAL_*` settings (its API token above all)."""
    source = os.environ if environ is None else environ
    return {key: value for key, value in source.items() if not key.startswith("AMLOCAL_")}


def script_environment(spec: RunSpec, base: dict[str, str] | None = None) -> dict[str, str]:
    """The script's environment: the parent's (minus amlocal's own settings), Azure ML's run
    variables, spec.env, and the run's identity."""
    env = user_environ(base)
    env.update({"AZUREML_ARM_PROJECT_NAME": spec.experiment,
                "AZUREML_EXPERIMENT_NAME": spec.experiment,
                "AZUREML_ARM_WORKSPACE_NAME": "amlocal",
                "AZUREML_RUN_CONFIGURATION": "",
                "PYTHONUNBUFFERED": "1"})
    env.update(spec.env)
    env.update({"AZUREML_RUN_ID": spec.run_id,
                "AMLOCAL_RUN_DIR": str(Path(spec.run_dir).resolve())})
    return {key: value for key, value in env.items() if value != ""}


def _script_path(script: str, files: list[str]) -> str:
    """The script as a clean relative path that names a file in the snapshot."""
    clean = posixpath.normpath(script.replace("\\", "/")) if script else ""
    if not clean or clean.startswith(("/", "../")) or clean == "..":
        raise RunPreparationError(f"script {script!r} must be a relative path inside the snapshot")
    if clean not in files:
        raise RunPreparationError(f"script {script!r} was not found in the snapshot")
    return clean


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group that may already be gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _merge_move(src: Path, dst: Path) -> None:
    """Move src into dst, merging folders (src wins); links are dropped, not followed."""
    if src.is_symlink() or not (src.is_dir() or src.is_file()):
        src.unlink(missing_ok=True)
        return
    if src.is_dir() and dst.is_dir() and not dst.is_symlink():
        for child in src.iterdir():
            _merge_move(child, dst / child.name)
        return
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    shutil.move(str(src), str(dst))
    if dst.is_dir():
        _drop_links(dst)


def _drop_links(root: Path) -> None:
    """Remove symlinks so the run's files never point outside the run folder."""
    for path in list(root.rglob("*")):
        if path.is_symlink():
            path.unlink()


class Executor:
    """Runs a script from a snapshot as a tracked run; see the module docstring for the layout."""

    def __init__(self, bootstrap: Path = BOOTSTRAP, poll_s: float = POLL_S,
                 sandbox: Sandbox | None = None):
        self.bootstrap = Path(bootstrap)
        self.poll_s = poll_s
        self.sandbox = sandbox

    def execute(self, spec: RunSpec, hooks: RunHooks = RunHooks()) -> RunResult:
        """Prepare, run, supervise and finalize one run; never raises for the script's faults."""
        run_dir = Path(spec.run_dir).resolve()
        wd = run_dir / "wd"
        hooks.on_state("Preparing")
        try:
            script = self._prepare(spec, run_dir, wd)
            proc = self._launch(spec, run_dir, wd, script)
        except (RunPreparationError, SnapshotError) as err:
            _remove_quietly(wd)
            return _failure("Failed", str(err), None, [])
        pump = OutputPump(run_dir / STD_LOG)
        pump.start(proc.stdout, proc.stderr)
        tail = EventTail(run_dir / EVENTS_FILE, root=run_dir)
        unrecorded: Exception | None = None  # the hooks could not record the run (a full disk)
        try:
            hooks.on_process(proc.pid)
            hooks.on_state("Running")
            reason = self._supervise(proc, spec, hooks, tail)
        except Exception as err:
            reason, unrecorded = "unrecorded", err
        finally:
            # Whatever happened, nothing of the run outlives it (children included).
            self._stop(proc, spec.cancel_grace_s if proc.poll() is None else 0.0)
            pump.close()
        late: Exception | None = None  # its last events or Finalizing could not be recorded
        try:
            self._deliver(hooks, tail)
            hooks.on_state("Finalizing")
        except Exception as err:
            late = err
        finally:
            self._finalize(run_dir, wd)
        if unrecorded is not None:
            return _failure("Failed", f"amlocal could not record the run: {unrecorded}",
                            proc.returncode, pump.stderr_tail)
        result = self._decide(spec, reason, proc.returncode, tail.events, pump.stderr_tail)
        result = _noted(result, pump.lost_output(), pump.stderr_tail)
        return _noted(result, late and f"amlocal could not record the run's end: {late}",
                      pump.stderr_tail)

    def _prepare(self, spec: RunSpec, run_dir: Path, wd: Path) -> str:
        """Make the run folder and extract the snapshot into wd/; return the script path."""
        remove_tree(wd)  # a previous attempt's, however deep
        for folder in (wd, run_dir / ".amlocal", run_dir / "user_logs"):
            folder.mkdir(parents=True, exist_ok=True)
        try:
            files = extract(Path(spec.snapshot), wd)
        except OSError as err:  # a missing snapshot file, a full disk
            raise RunPreparationError(f"could not unpack the snapshot: {err}") from err
        script = _script_path(spec.script, files)
        for name in KEPT_DIRS:
            (wd / name).mkdir(exist_ok=True)
        if self.sandbox is not None:  # the sandbox's user writes here (not in user_logs/)
            self.sandbox.chown(wd)
            self.sandbox.chown(run_dir / ".amlocal")
            os.chown(run_dir, *self.sandbox.owner(), follow_symlinks=False)
        return script

    def _launch(self, spec: RunSpec, run_dir: Path, wd: Path, script: str) -> subprocess.Popen:
        """Start `python bootstrap.py script args...` (sandboxed if so configured) under the
        supervisor, in its own session."""
        python = shutil.which(spec.python)
        if python is None:
            raise RunPreparationError(f"could not start the interpreter {spec.python!r}: "
                                      "no such executable file")
        command = [spec.python, str(self.bootstrap), script, *map(str, spec.arguments)]
        supervisor = [sys.executable, "-I", "-S", str(SUPERVISOR),
                      "--grace", f"{spec.cancel_grace_s:g}"]
        if self.sandbox is not None:
            command = self.sandbox.command(command, wd, writable=[run_dir], readable=[
                *interpreter_paths(python), self.bootstrap.parent])
            supervisor.append("--sandboxed")
        try:
            return subprocess.Popen([*supervisor, "--", *command], cwd=wd,
                                    env=script_environment(spec), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as err:
            raise RunPreparationError(f"could not start the run's supervisor: "
                                      f"{err.strerror or err}") from err

    def _supervise(self, proc: subprocess.Popen, spec: RunSpec, hooks: RunHooks,
                   tail: EventTail) -> str:
        """Watch the process, events, cancel and timeout; return why it ended."""
        deadline = None if spec.timeout_s is None else time.monotonic() + spec.timeout_s
        while True:
            try:
                proc.wait(timeout=self.poll_s)
                return "exited"
            except subprocess.TimeoutExpired:
                pass
            new = self._deliver(hooks, tail)
            if any(e.get("type") == "status" and e.get("status") == "Canceled" for e in new):
                self._stop(proc, spec.cancel_grace_s)
                return "script_canceled"
            if hooks.cancel_requested():
                self._stop(proc, spec.cancel_grace_s)
                return "canceled"
            if deadline is not None and time.monotonic() > deadline:
                self._stop(proc, spec.cancel_grace_s)
                return "timeout"

    @staticmethod
    def _deliver(hooks: RunHooks, tail: EventTail) -> list[dict]:
        """Hand new events to the hooks."""
        new = tail.read_new()
        if new:
            hooks.on_events(new)
        return new

    def _stop(self, proc: subprocess.Popen, grace_s: float) -> None:
        """Have the supervisor end the run's tree: SIGTERM to every process, SIGKILL after the
        grace period. Should the supervisor itself hang, the tree and its group are killed."""
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + grace_s + STOP_MARGIN_S
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    proc.wait(timeout=self.poll_s)
                except subprocess.TimeoutExpired:
                    pass
        if proc.poll() is None:
            signal_tree(proc.pid, signal.SIGKILL)
            _kill_group(proc.pid, signal.SIGKILL)
        proc.wait()

    @staticmethod
    def _finalize(run_dir: Path, wd: Path) -> None:
        """Keep wd/outputs and wd/logs with the run, then remove wd/ (even if keeping failed)."""
        try:
            for name in KEPT_DIRS:
                if (wd / name).exists() or (wd / name).is_symlink():
                    _merge_move(wd / name, run_dir / name)
        finally:
            _remove_quietly(wd)

    @staticmethod
    def _decide(spec: RunSpec, reason: str, code: int | None, events: list[dict],
                stderr_tail: list[str]) -> RunResult:
        """The run's final status from why it ended, its exit code and its own status calls."""
        if reason == "canceled":
            return _failure("Canceled", "Run was canceled", code, stderr_tail)
        if reason == "script_canceled":
            return _failure("Canceled", "Run was canceled by the script (run.cancel())", code,
                            stderr_tail)
        if reason == "timeout":
            return _failure("Failed", f"Run exceeded its timeout of {spec.timeout_s:g} s", code,
                            stderr_tail)
        asked = [e for e in events if e.get("type") == "status"]
        last = asked[-1] if asked else {}
        if last.get("status") == "Failed":
            error = last.get("error") if isinstance(last.get("error"), dict) else {}
            return _failure("Failed", str(error.get("message") or "Run failed"), code,
                            stderr_tail, code=error.get("code", "UserError"))
        if code != 0:
            return _failure("Failed", _exit_message(code, stderr_tail), code, stderr_tail)
        return RunResult(status="Completed", exit_code=0, error=None)


def _remove_quietly(wd: Path) -> None:
    """Remove the run's working folder, however deep; leave it if it cannot be removed."""
    try:
        remove_tree(wd)
    except OSError:
        pass


def _noted(result: RunResult, note: str | None, stderr_tail: list[str]) -> RunResult:
    """A run whose log or end could not be written (a full disk) Fails and says so, unless it
    was canceled."""
    if not note or result.status == "Canceled":
        return result
    error = dict(result.error or {"exit_code": result.exit_code, "stderr_tail": "\n".join(stderr_tail)})
    message = f"{error['message']} ({note})" if error.get("message") else note
    error["message"] = message[:MAX_MESSAGE_CHARS]
    return RunResult(status="Failed", exit_code=result.exit_code, error=error)


def _exit_message(code: int | None, stderr_tail: list[str]) -> str:
    """The exception line of the last traceback in stderr (`ValueError: boom`), else the last
    non-empty line, else what the exit code says."""
    return failure_reason(stderr_tail, code)
