"""The agent: one process that runs the run queue, the deployment reconciler and the sweep driver."""
from __future__ import annotations

import threading
from typing import Any


def cancel_and_join(store: Any, threads: dict[str, threading.Thread], timeout_s: float) -> None:
    """Ask the store to cancel each run (one that already finished is skipped), then wait for
    each run's thread, at most `timeout_s` each: how the run queues stop."""
    for run_id in list(threads):
        try:
            store.request_cancel(run_id)
        except Exception:  # already finished
            pass
    for thread in list(threads.values()):
        thread.join(timeout=timeout_s)
