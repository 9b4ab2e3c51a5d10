"""A run's log, metrics and files."""
import time

from flask import Blueprint, Response, request, send_file, stream_with_context

from training.metrics import fold

from ..errors import BadRequest
from .openapi import doc
from ..runs import list_run_files, read_log, resolve_run_file
from .schemas.runs import RunFileSchema
from .context import store, workspace

bp = Blueprint("run_files", __name__)
FOLLOW_POLL_S = 0.2
FOLLOW_MAX_S = 24 * 3600


def _offset() -> int:
    try:
        offset = int(request.args.get("offset", 0))
    except ValueError as err:
        raise BadRequest("offset must be a non-negative integer.", field="offset") from err
    if offset < 0:
        raise BadRequest("offset must be a non-negative integer.", field="offset")
    return offset


@bp.get("/runs/<run_id>/logs")
@doc("The run's stdout+stderr from ?offset=N; ?follow=true streams until the run ends.",
     response={"type": "string"}, content_type="text/plain")
def logs(run_id: str):
    run = store().get_run(run_id)
    run_dir, offset = workspace().run_dir(run_id), _offset()
    if request.args.get("follow", "").lower() not in ("1", "true", "yes"):
        chunk, next_offset = read_log(run_dir, offset)
        return Response(chunk, mimetype="text/plain",
                        headers={"x-log-offset": str(next_offset), "x-run-status": run.status})
    db = store()

    def stream():
        position, deadline = offset, time.monotonic() + FOLLOW_MAX_S
        while time.monotonic() < deadline:
            finished = db.get_run(run_id).is_terminal  # read before the log: nothing is missed
            chunk, position = read_log(run_dir, position)
            if chunk:
                yield chunk
            elif finished:
                return
            else:
                time.sleep(FOLLOW_POLL_S)

    return Response(stream_with_context(stream()), mimetype="text/plain",
                    headers={"x-run-status": run.status})


@bp.get("/runs/<run_id>/metrics")
@doc("Metrics in Azure ML's get_metrics() shapes.", response={"type": "object"})
def metrics(run_id: str):
    names = request.args.getlist("name") or None
    return {"metrics": fold(store().get_metric_events(run_id, names))}


@bp.get("/runs/<run_id>/files")
@doc("The run's files (outputs/, logs/, uploaded files, user_logs/).", response=RunFileSchema,
     many=True)
def files(run_id: str):
    store().get_run(run_id)
    return {"files": list_run_files(workspace().run_dir(run_id))}


@bp.get("/runs/<run_id>/files/<path:name>")
@doc("Download one of the run's files.", response={"type": "string", "format": "binary"},
     content_type="application/octet-stream")
def download(run_id: str, name: str):
    store().get_run(run_id)
    return send_file(resolve_run_file(workspace().run_dir(run_id), name), as_attachment=True,
                     download_name=name.rsplit("/", 1)[-1])
