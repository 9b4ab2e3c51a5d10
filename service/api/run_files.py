"""A run's log, metrics and files."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

from flask import Blueprint, Response, request, send_file, stream_with_context

from training.metrics import fold

from ..runs import list_run_files, open_run_file, read_log
from ..store import Store
from .context import store, workspace
from .openapi import doc, load
from .schemas.runs import MetricsQuerySchema, MetricsSchema, RunFileSchema, RunLogsQuerySchema

bp = Blueprint("run_files", __name__)
FOLLOW_POLL_S = 0.2
FOLLOW_MAX_S = 24 * 3600


@bp.get("/runs/<run_id>/logs")
@doc("The run's stdout+stderr from ?offset=N; ?follow=true streams until the run ends.",
     query=RunLogsQuerySchema, response={"type": "string"}, content_type="text/plain")
def logs(run_id: str):
    query = load(RunLogsQuerySchema(), request.args.to_dict())
    run = store().get_run(run_id)
    run_dir, offset = workspace().run_dir(run_id), query["offset"]
    if not query["follow"]:
        chunk, next_offset = read_log(run_dir, offset)
        return Response(chunk, mimetype="text/plain",
                        headers={"x-log-offset": str(next_offset), "x-run-status": run.status})
    return Response(stream_with_context(follow_log(store(), run_id, run_dir, offset)),
                    mimetype="text/plain", headers={"x-run-status": run.status})


def follow_log(db: Store, run_id: str, run_dir: Path, offset: int) -> Iterator[bytes]:
    """The log's bytes as they are written, until the run has ended and all is sent.

    Waits with time.sleep: under the API's gevent workers (service/serve.py) that yields to the
    other requests, so a follower holds a greenlet and a socket, not a thread."""
    yield b""  # the status and headers go out now, not with the first byte of log
    position, deadline = offset, time.monotonic() + FOLLOW_MAX_S
    while time.monotonic() < deadline:
        chunk, position = read_log(run_dir, position)
        if chunk:
            yield chunk
            continue
        if db.get_run(run_id).is_terminal:  # ended: one more read catches its last bytes
            chunk, position = read_log(run_dir, position)
            if chunk:
                yield chunk
            return
        time.sleep(FOLLOW_POLL_S)


@bp.get("/runs/<run_id>/metrics")
@doc("Metrics in Azure ML's get_metrics() shapes (?name=N, repeatable, picks some).",
     query=MetricsQuerySchema, response=MetricsSchema)
def metrics(run_id: str):
    names = load(MetricsQuerySchema(), {"name": request.args.getlist("name")})["name"] or None
    return {"metrics": fold(store().get_metric_events(run_id, names))}


@bp.get("/runs/<run_id>/files")
@doc("The run's files (outputs/, logs/, uploaded files, user_logs/).", response=RunFileSchema,
     listing="files", errors=(404,))
def files(run_id: str):
    store().get_run(run_id)
    return {"files": list_run_files(workspace().run_dir(run_id))}


@bp.get("/runs/<run_id>/files/<path:name>")
@doc("Download one of the run's files.", response={"type": "string", "format": "binary"},
     content_type="application/octet-stream")
def download(run_id: str, name: str):
    store().get_run(run_id)
    return send_file(open_run_file(workspace().run_dir(run_id), name), as_attachment=True,
                     mimetype="application/octet-stream", download_name=name.rsplit("/", 1)[-1])
