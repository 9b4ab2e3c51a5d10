"""What a run records about itself over HTTP: metrics, properties, files, child runs.

A running script calls these with its run token (AZUREML_RUN_TOKEN; service/auth.py keeps it to
its own run and its children); the workspace's token may call them too.
"""
from flask import Blueprint, request

from ..runs import create_child_run, save_run_file, set_run_status
from ..runs import log_metrics as log_run_metrics
from .context import json_body, settings, store, workspace
from .openapi import doc, load
from .schemas.run_tracking import (ChildRunCreateSchema, ChildStatusSchema, MetricsLoggedSchema,
                                   MetricsLogSchema, PropertiesAddSchema, UploadedFileSchema)
from .schemas.runs import RunSchema

bp = Blueprint("run_tracking", __name__)
RUN = RunSchema()


@bp.post("/runs/<run_id>/metrics")
@doc("Log metrics to a run that is not finished (run.log, log_list, log_row, log_table).",
     body=MetricsLogSchema, response=MetricsLoggedSchema, errors=(400, 403, 404, 409))
def log_metrics(run_id: str):
    body = load(MetricsLogSchema(), json_body("{metrics: [{name, kind, value, step?}]}"))
    return {"logged": log_run_metrics(store(), run_id, body["metrics"])}


@bp.patch("/runs/<run_id>/properties")
@doc("Add properties to a run; an existing key is never changed (409).",
     body=PropertiesAddSchema, response=RunSchema, errors=(400, 403, 404, 409))
def add_properties(run_id: str):
    body = load(PropertiesAddSchema(), json_body("{add: {key: value}}"))
    return RUN.dump(store().add_run_properties(run_id, body["add"]))


@bp.put("/runs/<run_id>/files/<path:name>")
@doc("Upload the request's body as the run's file `name` (run.upload_file); 409 if it exists.",
     response=UploadedFileSchema, status=201, errors=(400, 403, 404, 409, 413))
def upload_file(run_id: str, name: str):
    saved = save_run_file(store(), workspace(), run_id, name, request.stream,
                          settings().max_upload_bytes)
    return saved, 201


@bp.post("/runs/<run_id>/children")
@doc("Create a child run, Running at once (run.child_run); it ends by POST .../status or with "
     "its parent.", body=ChildRunCreateSchema, response=RunSchema, status=201,
     errors=(400, 403, 404, 409))
def create_child(run_id: str):
    body = load(ChildRunCreateSchema(), json_body("{name?, run_id?, tags?}"))
    child = create_child_run(store(), run_id, body["name"], body["run_id"], body["tags"])
    return RUN.dump(child), 201


@bp.post("/runs/<run_id>/status")
@doc("End a child run (child.complete(), fail(), cancel()), or, for a script's own run, ask for "
     "its final status: the end of its process applies it.",
     body=ChildStatusSchema, response=RunSchema, errors=(400, 403, 404, 409))
def set_status(run_id: str):
    body = load(ChildStatusSchema(), json_body("{status, message?, code?}"))
    return RUN.dump(set_run_status(store(), run_id, body["status"], body["message"],
                                   body["code"]))
