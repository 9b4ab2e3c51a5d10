"""Waiting for a scoring server to answer `GET /`, and reading why it did not."""
from __future__ import annotations

import re
import time
from typing import Callable

import requests

HEALTH_TRIES = 30          # Azure's LocalWebservice: 30 tries, 1 s apart
HEALTH_INTERVAL_S = 1.0
FIRST_POLL_S = 0.02        # poll faster at first; the deadline stays Azure's
FAST_PHASE_S = 10.0        # poll at most every MAX_FAST_POLL_S during this phase
MAX_FAST_POLL_S = 0.1
CRASHED = "Error: Container has crashed. Did your init method fail?"
TIMED_OUT = "Error: Connection to container has timed out. Did your init method fail?"
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)|"
                             r"[A-Za-z_][\w.]*\.[A-Z]\w*)(: .*)?$")


class StartFailed(Exception):
    """A generation did not become healthy; `reason` is what the deployment's error says."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Cancelled(Exception):
    """The deployment was deleted or replaced while it started."""


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """One `GET /`: 200 and `Healthy`."""
    try:
        resp = requests.get(url, timeout=timeout)
    except requests.RequestException:
        return False
    return resp.status_code == 200 and resp.text.strip() == "Healthy"


def wait_healthy(url: str, is_running: Callable[[], bool],
                 cancelled: Callable[[], bool] = lambda: False,
                 log_text: Callable[[], str] = lambda: "",
                 timeout_s: float = HEALTH_TRIES * HEALTH_INTERVAL_S) -> float:
    """Poll `url` until healthy (returns seconds taken) or raise StartFailed / Cancelled."""
    started = time.monotonic()
    interval = FIRST_POLL_S
    while True:
        if is_healthy(url, timeout=min(2.0, HEALTH_INTERVAL_S * 2)):
            return time.monotonic() - started
        if not is_running():
            text = log_text()
            raise StartFailed(init_error(text) or last_error(text) or CRASHED)
        if cancelled():
            raise Cancelled(url)
        if time.monotonic() - started > timeout_s:
            raise StartFailed(TIMED_OUT)
        time.sleep(interval)  # a real wait between polls of another process, not a test sleep
        cap = MAX_FAST_POLL_S if time.monotonic() - started < FAST_PHASE_S else HEALTH_INTERVAL_S
        interval = min(cap, interval * 1.5)


def init_error(log: str) -> str:
    """The last line of the last traceback in a log (e.g. `ValueError: boom`), else ''."""
    lines = [line.rstrip() for line in log.splitlines()]
    last_tb = max((i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")),
                  default=None)
    if last_tb is None:
        return ""
    found = ""
    for line in lines[last_tb + 1:]:
        if line and not line.startswith((" ", "\t")) and _EXCEPTION_LINE.match(line):
            found = line
            break
    return found


def last_error(log: str) -> str:
    """The last line that reports an error (e.g. gunicorn's `Connection in use`), else ''."""
    for line in reversed(log.splitlines()):
        if "error" in line.lower() and line.strip():
            return line.strip()[-500:]
    return ""
