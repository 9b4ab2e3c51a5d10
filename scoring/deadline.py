"""Stop run() after SCORING_TIMEOUT_MS, in the main thread (keepalive and sync workers) or a request
thread (gthread)."""
from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
import time
from typing import Iterator


class Deadline(BaseException):
    """Raised inside run() when its time is up (a BaseException so `except Exception` in user code
    cannot swallow it)."""


def _on_alarm(signum: int, frame: object) -> None:
    raise Deadline()


class _Watchdog:
    """One thread per worker that raises Deadline in request threads past their deadline.

    Signals reach only the main thread, and gthread workers run requests in a pool, so the
    exception is delivered with PyThreadState_SetAsyncExc: it lands at the next Python bytecode,
    i.e. a run() blocked inside C (a sleep, a socket read) is stopped when it returns to Python.
    """

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.lock = threading.Lock()
        self.deadlines: dict[int, float] = {}
        self.thread = threading.Thread(target=self._loop, name="scoring-deadline", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(self.period_s)
            now = time.monotonic()
            with self.lock:
                for tid, deadline in list(self.deadlines.items()):
                    if now >= deadline:
                        del self.deadlines[tid]
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid),
                                                                  ctypes.py_object(Deadline))

    @contextlib.contextmanager
    def watch(self, timeout_s: float) -> Iterator[None]:
        tid = threading.get_ident()
        self.deadlines[tid] = time.monotonic() + timeout_s
        try:
            yield
        finally:
            with self.lock:
                if self.deadlines.pop(tid, None) is None:
                    # The watchdog fired: cancel the exception if it has not been raised yet.
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)


_watchdog: _Watchdog | None = None
_watchdog_lock = threading.Lock()


def _get_watchdog(timeout_s: float) -> _Watchdog:
    global _watchdog
    with _watchdog_lock:
        if _watchdog is None:
            # Check often enough to be within ~10% of short timeouts, never more than 20 times a second.
            _watchdog = _Watchdog(period_s=min(max(timeout_s / 10, 0.005), 0.05))
        return _watchdog


@contextlib.contextmanager
def deadline(timeout_ms: int) -> Iterator[None]:
    """Raise Deadline inside the block if it runs longer than timeout_ms."""
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_ms / 1000)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    else:
        with _get_watchdog(timeout_ms / 1000).watch(timeout_ms / 1000):
            yield
