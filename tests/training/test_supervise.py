"""A run's whole process tree ends with it: the supervisor (a child subreaper) and the sandbox.

Real processes: a script double-forks a daemon into its own session, then ends, is canceled or
times out; the daemon must be gone when `execute` returns (plain and sandboxed)."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import prepare_sandbox, process_alive
from tests.polling import wait_for
from tests.training.helpers import RecordingHooks, make_spec
from training.executor import Executor
from training.sandbox import detect
from training import supervise

DAEMON = """
    import os, sys, time
    from azureml.core import Run
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write, str(os.getpid()).encode())
            time.sleep(600)
        os._exit(0)
    os.wait()
    Run.get_context().log("daemon", int(os.read(read, 32)))
    time.sleep(float(sys.argv[1]))
    """


def _daemon_pid(hooks: RecordingHooks) -> int | None:
    """The daemon's pid as the script saw it (inside a sandbox: its PID namespace's)."""
    return next((e["value"] for e in hooks.events if e.get("name") == "daemon"), None)


def _host_pids(hooks: RecordingHooks) -> list[int]:
    """The supervisor's descendants, seen while the run goes (host pids)."""
    return [pid for pid, _ in supervise.descendants(hooks.pid)] if hooks.pid else []


@pytest.fixture(params=["plain", "sandboxed"])
def executor(request, tmp_path) -> Executor:
    if request.param == "plain":
        return Executor()
    assert prepare_sandbox(), "bubblewrap is needed (docker/prepare-sandbox.sh)"
    sandbox, how = detect(hide=[tmp_path / "hidden"])
    assert sandbox is not None, how
    return Executor(sandbox=sandbox)


@pytest.mark.parametrize("ending", ["normal end", "cancel", "timeout"])
def test_a_double_forked_daemon_ends_with_the_run(tmp_path: Path, executor: Executor,
                                                   ending: str) -> None:
    seen: dict[str, list[int]] = {}

    def cancel(hooks: RecordingHooks) -> bool:
        if _daemon_pid(hooks) is not None and "tree" not in seen:
            seen["tree"] = _host_pids(hooks)
        return ending == "cancel" and "tree" in seen

    def on_event(hooks: RecordingHooks, event: dict) -> None:
        if event.get("name") == "daemon":
            seen["tree"] = _host_pids(hooks)

    spec = make_spec(tmp_path, {"train.py": DAEMON},
                     arguments=["0" if ending == "normal end" else "600"],
                     timeout_s=8.0 if ending == "timeout" else None, cancel_grace_s=1.0)
    hooks = RecordingHooks(should_cancel=cancel, on_event=on_event)
    result = executor.execute(spec, hooks)
    assert result.status == {"normal end": "Completed", "cancel": "Canceled",
                             "timeout": "Failed"}[ending], result
    assert "tree" in seen, "the daemon never started (on a machine too busy to start it in 8 s)"
    tree = seen["tree"]
    assert len(tree) >= 2  # the script and its daemon (and the sandbox's own) were in the tree
    wait_for(lambda: not any(process_alive(p) for p in tree), timeout=2,
             message="every process of the run to be gone")


def test_the_supervisor_passes_the_exit_status_through(tmp_path: Path) -> None:
    def run(code: str) -> int:
        return subprocess.run([sys.executable, "-I", "-S", supervise.__file__, "--grace", "1",
                               "--", sys.executable, "-c", code], timeout=30).returncode

    assert run("raise SystemExit(3)") == 3
    assert run("import os, signal; os.kill(os.getpid(), signal.SIGKILL)") == -signal.SIGKILL
    assert subprocess.run([sys.executable, supervise.__file__, "--grace", "1", "--",
                           str(tmp_path / "missing")], capture_output=True, text=True,
                          timeout=30).returncode == 127


def test_sigterm_reaches_every_process_and_sigkill_follows_after_the_grace(tmp_path: Path) -> None:
    # A child that ignores SIGTERM, in its own session: SIGKILLed once the grace is over.
    marker = tmp_path / "terminated"
    code = ("import os, signal, subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
            "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'], "
            "start_new_session=True)\n"
            f"signal.signal(signal.SIGTERM, lambda *a: (open({str(marker)!r}, 'w').close(), "
            "sys.exit(0)))\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-I", "-S", supervise.__file__, "--grace", "0.5",
                             "--", sys.executable, "-c", code], start_new_session=True)
    tree = wait_for(lambda: len(supervise.descendants(proc.pid)) == 2
                    and [p for p, _ in supervise.descendants(proc.pid)], timeout=30,
                    message="the script and its child")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0  # the script's own exit status
    assert time.monotonic() - started < 5
    assert marker.exists()  # the script had its SIGTERM
    assert not any(process_alive(p) for p in tree)


def test_a_fifo_for_an_events_file_does_not_hang_the_run(tmp_path: Path) -> None:
    # The script replaces its events file with a FIFO: opening it must not block the executor.
    spec = make_spec(tmp_path, {"train.py": """
        import os, time
        events = os.path.join(os.environ["AMLOCAL_RUN_DIR"], ".amlocal", "events.jsonl")
        if os.path.exists(events):
            os.remove(events)
        os.mkfifo(events)
        time.sleep(60)
        """}, timeout_s=2.0)
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(Executor().execute(spec)),
                              daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the executor hung on the FIFO"
    assert outcome[0].status == "Failed" and "timeout" in outcome[0].error["message"]
