"""Experiments and runs: submit, list, show, cancel, tags."""
from flask import Blueprint, request

from ..runs import check_experiment_name, start_interactive_run, submit_run
from ..sweeps import sweep_summary
from .context import config_part, json_body, parse_pairs, settings, store, workspace
from .openapi import doc, load
from .schemas.run_tracking import ChildRunCreateSchema
from .schemas.runs import (ExperimentSchema, RunConfigSchema, RunListQuerySchema, RunSchema,
                           TagsUpdateSchema)

bp = Blueprint("runs", __name__)
RUN = RunSchema()
RUNS = RunSchema(many=True)

SUBMIT_PARTS = {
    "snapshot": {"type": "string", "format": "binary",
                 "description": ".tar.gz of the source directory"},
    "config": {"type": "string", "description": "JSON: {script, arguments[], environment?, "
                                                 "tags{}, timeout_s?}"},
}


@bp.post("/experiments/<experiment>/runs")
@doc("Submit a run: a snapshot and a run config.", multipart=SUBMIT_PARTS, response=RunSchema,
     status=201, errors=(400,))
def submit(experiment: str):
    check_experiment_name(experiment)
    config = config_part(RunConfigSchema(), "a JSON run config", field_prefix="config.")
    upload = request.files.get("snapshot")
    run = submit_run(store(), workspace(), experiment, config, upload.stream if upload else None,
                     settings().max_upload_bytes)
    return RUN.dump(run), 201


@bp.post("/experiments/<experiment>/interactive-runs")
@doc("Start an interactive run (experiment.start_logging()): Running at once, no script; log to "
     "it and end it with POST /runs/<id>/status.", body=ChildRunCreateSchema,
     response=RunSchema, status=201, errors=(400, 409))
def start_logging(experiment: str):
    body = load(ChildRunCreateSchema(), json_body("{name?, run_id?, tags?}"))
    run = start_interactive_run(store(), experiment, body["name"], body["run_id"], body["tags"])
    return RUN.dump(run), 201


@bp.get("/experiments")
@doc("List experiments.", response=ExperimentSchema, listing="experiments", errors=())
def list_experiments():
    return {"experiments": ExperimentSchema(many=True).dump(store().list_experiments())}


@bp.get("/experiments/<experiment>/runs")
@doc("List an experiment's runs, newest first; a sweep's children only with "
     "include_children=true.", query=RunListQuerySchema, response=RunSchema, listing="runs")
def list_runs(experiment: str):
    check_experiment_name(experiment)
    store().get_experiment(experiment)
    raw = {"tag": request.args.getlist("tag"), "limit": request.args.get("limit", 1000)}
    for name in ("status", "include_children"):
        if name in request.args:
            raw[name] = request.args[name]
    query = load(RunListQuerySchema(), raw)
    runs = store().list_runs(experiment, status=query.get("status"), tags=parse_pairs(query["tag"]),
                             top_level=not query["include_children"], limit=query["limit"])
    return {"runs": RUNS.dump(runs)}


@bp.get("/runs/<run_id>")
@doc("Show a run.", response=RunSchema, errors=(404,))
def show(run_id: str):
    run = store().get_run(run_id)
    return {**RUN.dump(run), "summary": sweep_summary(store(), run)}


@bp.post("/runs/<run_id>/cancel")
@doc("Cancel a run (pending: at once; running: SIGTERM, then SIGKILL).", response=RunSchema,
     status=202, errors=(404, 409))
def cancel(run_id: str):
    return RUN.dump(store().request_cancel(run_id)), 202


@bp.patch("/runs/<run_id>/tags")
@doc("Add and remove a run's tags.", body=TagsUpdateSchema, response=RunSchema)
def update_tags(run_id: str):
    store().get_run(run_id)  # an unknown run is a 404, not a failed insert of its events
    body = load(TagsUpdateSchema(), json_body("{add: {key: value}, remove: [key]}"))
    return RUN.dump(store().update_run_tags(run_id, body["add"], body["remove"]))
