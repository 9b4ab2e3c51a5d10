"""Reading a model's estimator facts and its environment's versions in a child process.

Unpickling runs code, so it never happens in the API process. For a model from the service's own
interpreter, children are forked from a pre-warmed fork server (`introspect_child.py --serve`, one
per API process, which imports numpy, scipy and scikit-learn once): a fresh interpreter spends
~1 s importing scikit-learn, a fork a few ms. A run made with another interpreter (its
environment's) gets that interpreter running `introspect_child.py`. Either way the child has a
time limit and is killed at it; a failure is recorded as `{"status": "failed", "reason": ...}`,
never raised.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from training.executor import user_environ

from . import child as introspect_child

log = logging.getLogger("amlocal.introspect")
DEFAULT_TIMEOUT_S = 10.0
STARTUP_ALLOWANCE_S = 10.0  # a fresh interpreter's imports, on top of the limit
READY_TIMEOUT_S = 120.0  # the fork server's one-time imports on a loaded machine
CHILD_SCRIPT = Path(introspect_child.__file__)
MAX_MESSAGE = 1024 * 1024
PRELOAD = ["joblib", "numpy", "scipy", "sklearn.base", "sklearn.pipeline",
           "sklearn.preprocessing", "sklearn.linear_model", "sklearn.svm", "sklearn.tree",
           "sklearn.ensemble", "sklearn.neighbors"]
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_lock = threading.Lock()
_server: "ForkServerClient | None" = None


@dataclass(frozen=True)
class Introspection:
    """What a child reported: the interpreter's versions, and the estimator (None: no model)."""

    environment: dict | None
    estimator: dict | None


def failed(reason: str) -> dict:
    """The estimator record of an introspection that did not succeed."""
    return {"status": "failed", "reason": reason}


class ForkServerClient:
    """The API process's handle on its fork server (`introspect_child.py --serve`)."""

    def __init__(self, python: str = sys.executable):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # No AMLOCAL_* secrets in reach of a pickle; one BLAS thread so forking stays safe.
        env = {**user_environ(), **SINGLE_THREADED}
        self.proc = subprocess.Popen([python, str(CHILD_SCRIPT), "--serve", str(theirs.fileno()),
                                      *PRELOAD], pass_fds=[theirs.fileno()], env=env,
                                     stdin=subprocess.DEVNULL)
        theirs.close()
        self.control = ours  # when this process dies the server reads EOF and exits
        self._ready = False
        self._ready_lock = threading.Lock()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait for the server's preload (once): it does not count against a model's limit."""
        with self._ready_lock:
            if self._ready:
                return
            self.control.settimeout(timeout_s)
            try:
                message = self.control.recv(64)
            finally:
                self.control.settimeout(None)
            if not message:
                raise OSError("the introspection server exited while starting")
            self._ready = True

    def close(self) -> None:
        """Stop the server: closing the control socket makes it exit; reap it."""
        self.control.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ask(self, model_file: Path | None, timeout_s: float) -> tuple[list[bytes], dict]:
        """Send one request; return the child's JSON lines and the server's exit record."""
        self.wait_ready()
        mine, child = socket.socketpair()
        try:
            request = {"model_file": None if model_file is None else str(model_file),
                       "timeout_s": timeout_s}
            socket.send_fds(self.control, [json.dumps(request).encode()], [child.fileno()])
            child.close()
            # The server enforces the limit; this margin is for a server that stalls.
            mine.settimeout(timeout_s + STARTUP_ALLOWANCE_S)
            lines, ending = _read_lines(mine)
        finally:
            mine.close()
            child.close()
        return lines, ending


def _read_lines(conn: socket.socket) -> tuple[list[bytes], dict]:
    buffer, lines = b"", []
    try:
        while len(buffer) < MAX_MESSAGE and (chunk := conn.recv(65536)):
            buffer += chunk
    except socket.timeout:
        pass
    ending: dict = {}
    for raw in buffer.splitlines():
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict) and "exit" in value:
            ending = value
        else:
            lines.append(raw)
    return lines, ending


def fork_server() -> ForkServerClient:
    """This process's fork server, started on first use (and again if it died)."""
    global _server
    with _lock:
        if _server is not None and not _server.alive():
            log.warning("the introspection server exited with %s; starting another",
                        _server.proc.returncode)
            _server.control.close()
            _server = None
        if _server is None:
            _server = ForkServerClient()
            atexit.register(_server.close)  # the process that started it reaps it
        return _server


def warm_up() -> None:
    """Start the fork server now (it imports in the background), so registrations need not wait."""
    fork_server()


def introspect(model_file: Path | None, python: str | None = None,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> Introspection:
    """Environment and estimator facts from a child of `python` (None: the service's own)."""
    if python is None:
        return _in_fork(model_file, timeout_s)
    found = _in_subprocess(python, model_file, timeout_s)
    if found.environment is not None:
        return found
    # The run's interpreter is gone or broken: say so, and fall back to the service's own.
    own = _in_fork(model_file, timeout_s)
    note = (f"the run's interpreter {python} did not answer "
            f"({(found.estimator or {}).get('reason', 'no output')}); these are the service's")
    return Introspection({**(own.environment or {}), "note": note}, own.estimator)


def _parse(messages: list[bytes], model_file: Path | None, problem: str | None) -> Introspection:
    """Fold the child's JSON messages; a missing estimator becomes failed(problem)."""
    found: dict = {}
    for raw in messages:
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.update({k: v for k, v in value.items() if k in ("environment", "estimator")
                          and isinstance(v, dict)})
    estimator = found.get("estimator")
    if model_file is not None and estimator is None:
        estimator = failed(problem or "the introspection process gave no answer")
    return Introspection(found.get("environment"), estimator)


def _in_fork(model_file: Path | None, timeout_s: float) -> Introspection:
    try:
        try:
            lines, ending = fork_server().ask(model_file, timeout_s)
        except OSError:  # the server died under us: fork_server() starts another, once
            lines, ending = fork_server().ask(model_file, timeout_s)
    except OSError as err:
        return Introspection(None, None if model_file is None else failed(
            f"the introspection server is unavailable: {err}"))
    problem = None
    if ending.get("timed_out"):
        problem = f"introspection timed out after {timeout_s:g} s"
    elif ending:
        problem = _exit_reason(ending.get("exit"))
    elif len(lines) < (1 if model_file is None else 2):
        problem = f"introspection gave no answer within {timeout_s:g} s"
    return _parse(lines, model_file, problem)


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the introspection process was killed by {signal.Signals(-code).name}"
    return f"the introspection process exited with code {code} before answering"


def _in_subprocess(python: str, model_file: Path | None, timeout_s: float) -> Introspection:
    command = [python, str(CHILD_SCRIPT), *([str(model_file)] if model_file else []),
               "--timeout", str(timeout_s)]
    env = user_environ()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
    except OSError as err:
        return Introspection(None, failed(f"cannot start {python}: {err}"))
    problem = None
    try:
        out, err_text = proc.communicate(timeout=timeout_s + STARTUP_ALLOWANCE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the pickle's children go too
        out, err_text = proc.communicate()
        problem = f"introspection timed out after {timeout_s:g} s"
    if problem is None and proc.returncode == -signal.SIGALRM:
        problem = f"introspection timed out after {timeout_s:g} s"  # the child's own backstop
    if problem is None and proc.returncode != 0:
        tail = err_text.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        problem = f"{_exit_reason(proc.returncode)}: {tail[0][:500]}"
    return _parse(out.splitlines(), model_file, problem)
