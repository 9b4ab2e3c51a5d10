"""Live parts, as server-sent events: an experiment's run states, and a run's log and state.

Each stream polls the store and the log file (time.sleep yields under the API's gevent
workers, as the API's own log follower does) and ends after STREAM_MAX_S; the browser's
EventSource then reconnects on its own, from the last event id."""
from __future__ import annotations

import json
import time
from typing import Iterator

from flask import Response, request, stream_with_context

from ..runs import read_log
from . import queries
from .blueprint import bp
from .context import duration, short_time, store, workspace

POLL_S = 0.25
STREAM_MAX_S = 300
HEARTBEAT_S = 15  # a comment line now and then: a closed tab is noticed by the failed write


class Beat:
    """Says when a heartbeat is due."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def due(self) -> bool:
        if time.monotonic() - self.last < HEARTBEAT_S:
            return False
        self.last = time.monotonic()
        return True


def event(data: object, name: str | None = None, event_id: str | None = None) -> str:
    """One SSE message."""
    head = (f"event: {name}\n" if name else "") + (f"id: {event_id}\n" if event_id else "")
    return f"{head}data: {json.dumps(data)}\n\n"


def sse(stream: Iterator[str]) -> Response:
    return Response(stream_with_context(stream), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def experiment_events(experiment: str) -> Iterator[str]:
    """A `status` event for every change of a run's state, `new` when runs were added."""
    yield "retry: 1000\n\n"
    seen: dict = {}
    deadline, beat = time.monotonic() + STREAM_MAX_S, Beat()
    while time.monotonic() < deadline:
        if beat.due():
            yield ": ping\n\n"
        now = queries.last_statuses(store(), experiment)
        if seen and set(now) - set(seen):
            yield event({"ids": sorted(set(now) - set(seen))}, "new")
        for run_id, row in now.items():
            if seen.get(run_id) != row:
                yield event({"id": run_id, "status": row["status"],
                             "start": short_time(row["start_time"]),
                             "duration": duration(row["start_time"], row["end_time"])},
                            "status")
        seen = now
        time.sleep(POLL_S)


@bp.get("/ui/experiments/<experiment>/events")
def experiment_stream(experiment: str):
    queries.experiment_exists(store(), experiment)
    return sse(experiment_events(experiment))


def log_events(run_id: str, offset: int) -> Iterator[str]:
    """The log's new text (event id = the offset after it), the run's state, then `end`."""
    yield "retry: 1000\n\n"
    run_dir, status = workspace().run_dir(run_id), None
    deadline, beat = time.monotonic() + STREAM_MAX_S, Beat()
    while time.monotonic() < deadline:
        if beat.due():
            yield ": ping\n\n"
        chunk, offset = read_log(run_dir, offset)
        if chunk:
            yield event(chunk.decode("utf-8", "replace"), "log", str(offset))
            continue
        run = store().get_run(run_id)
        if run.status != status:
            status = run.status
            yield event({"status": status}, "status")
        if run.is_terminal:
            chunk, offset = read_log(run_dir, offset)
            if chunk:
                yield event(chunk.decode("utf-8", "replace"), "log", str(offset))
            yield event({"status": status}, "end")
            return
        time.sleep(POLL_S)


@bp.get("/ui/runs/<run_id>/log-events")
def log_stream(run_id: str):
    store().get_run(run_id)
    start = request.headers.get("Last-Event-ID") or request.args.get("offset") or "0"
    offset = int(start) if start.isdigit() and len(start) < 19 else 0
    return sse(log_events(run_id, offset))
