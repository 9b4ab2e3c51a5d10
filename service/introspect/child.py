"""Runs in a child process only: reads a model file and the interpreter's package versions.

Standalone on purpose (it imports nothing of amlocal): any environment's interpreter can run it as
`python introspect_child.py [MODEL_FILE] [--timeout S]`; it prints one JSON line
`{"environment": {...}}`, then one `{"estimator": {...}}` line when a model file is given.
`python introspect_child.py --serve FD MODULE...` is the pre-warmed fork server the control API
uses for its own interpreter (see service/introspect.py). Unpickling runs code, so it never happens
inside the API process.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import platform
import select
import signal
import socket
import sys
import time
import warnings

# The rule for the model file, as scoring/nocode.py states it: exactly one file with one of these
# suffixes anywhere under the model folder.
MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle")
KEY_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib", "pandas")
MAX_LISTED = 100
SECRET_PREFIX = "AMLOCAL_"


def find_model_files(paths: list[str]) -> list[str]:
    """The model-file candidates among relative `paths`, sorted."""
    return sorted(p for p in paths if p.lower().endswith(MODEL_SUFFIXES))


def describe_environment() -> dict:
    """This interpreter's Python version and the versions of the key packages (None: absent)."""
    from importlib import metadata

    packages: dict[str, str | None] = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {"python": platform.python_version(), "implementation":
            platform.python_implementation(), "interpreter": sys.executable,
            "packages": packages}


def _jsonable(value, depth: int = 0):
    """Plain JSON for numpy scalars and arrays (and a string for anything else)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value if not (isinstance(value, float) and not math.isfinite(value)) else str(value)
    if hasattr(value, "tolist") and depth < 3:
        return _jsonable(value.tolist(), depth + 1)
    if isinstance(value, (list, tuple)) and depth < 3:
        return [_jsonable(v, depth + 1) for v in value[:MAX_LISTED * 10]]
    return str(value)


def _attribute(estimator, name: str):
    try:
        return _jsonable(getattr(estimator, name, None))
    except Exception:  # a property of an arbitrary object may raise anything
        return None


def _has(estimator, name: str) -> bool:
    try:
        return hasattr(estimator, name)  # sklearn's available_if answers False where unusable
    except Exception:
        return False


def _load(path: str):
    try:
        import joblib
    except ImportError:
        import pickle

        with open(path, "rb") as fh:
            return pickle.load(fh)
    return joblib.load(path)


def describe_model(path: str) -> dict:
    """Load the model and report its estimator facts, or why it could not be read."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator = _load(path)
        except BaseException as err:  # a pickle may raise anything, SystemExit included
            return {"status": "failed", "reason": f"{type(err).__name__}: {err}"[:1000]}
    cls = type(estimator)
    return {
        "status": "ok",
        "class": cls.__name__,
        "module": cls.__module__,
        "is_sklearn": cls.__module__.split(".")[0] == "sklearn",
        "n_features_in": _attribute(estimator, "n_features_in_"),
        "feature_names_in": _attribute(estimator, "feature_names_in_"),
        "classes": _attribute(estimator, "classes_"),
        "has_predict": _has(estimator, "predict"),
        "has_predict_proba": _has(estimator, "predict_proba"),
        "warnings": sorted({f"{w.category.__name__}: {w.message}"[:500] for w in caught}),
    }


def prepare(timeout_s: float) -> None:
    """Before any unpickling: no service secrets in reach, and a self-destruct after the limit."""
    for key in [k for k in os.environ if k.startswith(SECRET_PREFIX)]:
        del os.environ[key]
    # SIGALRM's default action ends the process even inside C code: a backstop should the
    # parent that enforces the limit die first.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(max(1, math.ceil(timeout_s)) + 2)


def _answer(conn: socket.socket, model_file: str | None, timeout_s: float) -> None:
    """In a forked child: report on `conn` (JSON lines, never pickles), then exit."""
    prepare(timeout_s)
    conn.sendall((json.dumps({"environment": describe_environment()}) + "\n").encode())
    if model_file:
        conn.sendall((json.dumps({"estimator": describe_model(model_file)}) + "\n").encode())


class ForkServer:
    """`--serve FD`: forks one child per request received on the control socket FD.

    A request is one SEQPACKET message `{"model_file", "timeout_s"}` carrying, as SCM_RIGHTS, the
    socket to answer on. The server owns the time limit: it kills a child at its deadline, reaps
    it, and writes `{"exit": code, "timed_out": bool}` as the last line. It exits when the
    control socket closes (the API process is gone).
    """

    def __init__(self, control: socket.socket):
        self.control = control
        self.children: dict[int, tuple[float, socket.socket, bool]] = {}
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_w)

    def run(self) -> None:
        """Serve until the control socket closes; then end every child."""
        while True:
            now = time.monotonic()
            wait = min([d for d, _, _ in self.children.values()], default=now + 60) - now
            ready, _, _ = select.select([self.control, self.wake_r], [], [], max(0.0, wait))
            if self.wake_r in ready:
                os.read(self.wake_r, 4096)
            if self.control in ready and not self._accept():
                break
            self._expire()
            self._reap()
        for pid in self.children:
            os.kill(pid, signal.SIGKILL)

    def _accept(self) -> bool:
        try:
            message, fds, _, _ = socket.recv_fds(self.control, 65536, 1)
        except ConnectionResetError:  # the API closed with our "ready" unread: it is gone all the same
            return False
        if not message:
            return False
        if not fds:
            return True
        conn = socket.socket(fileno=fds[0])
        request = json.loads(message)
        timeout_s = float(request.get("timeout_s", 10.0))
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                self.control.close()
                for _, other, _ in self.children.values():
                    other.close()
                _answer(conn, request.get("model_file"), timeout_s)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        self.children[pid] = (time.monotonic() + timeout_s, conn, False)
        return True

    def _expire(self) -> None:
        now = time.monotonic()
        for pid, (deadline, conn, killed) in list(self.children.items()):
            if deadline <= now and not killed:
                os.kill(pid, signal.SIGKILL)
                self.children[pid] = (deadline, conn, True)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            _, conn, killed = self.children.pop(pid)
            try:
                conn.sendall((json.dumps({"exit": os.waitstatus_to_exitcode(status),
                                          "timed_out": killed}) + "\n").encode())
            except OSError:
                pass  # the API side gave up already
            conn.close()


def serve(control_fd: int, preload: list[str]) -> int:
    """Import `preload` once, then fork a child per request (see ForkServer)."""
    for key in [k for k in os.environ if k.startswith(SECRET_PREFIX)]:
        del os.environ[key]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the API; we end at its EOF
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional package only costs speed
            pass
    control = socket.socket(fileno=control_fd)
    control.send(json.dumps({"ready": True}).encode())
    ForkServer(control).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`introspect_child.py [MODEL_FILE] [--timeout S]` → JSON lines; `--serve FD MODULE...`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--serve"]:
        return serve(int(args[1]), args[2:])
    timeout_s = 10.0
    if "--timeout" in args:
        i = args.index("--timeout")
        timeout_s = float(args[i + 1])
        del args[i:i + 2]
    prepare(timeout_s)
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever the pickle prints must not corrupt the JSON lines
    out.write(json.dumps({"environment": describe_environment()}) + "\n")
    out.flush()
    if args:
        out.write(json.dumps({"estimator": describe_model(args[0])}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
