"""Sweeps: submit one, list its children by the primary metric, pick the best child."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from ..runs import check_experiment_name
from ..sweeps import best_child_of, list_children, submit_sweep
from .context import config_part, settings, store, workspace
from .openapi import doc, load
from .schemas.runs import RunSchema
from .schemas.sweeps import (BestChildSchema, BestQuerySchema, ChildrenQuerySchema, ChildrenSchema,
                             SweepConfigSchema, SweepRunSchema)

bp = Blueprint("sweeps", __name__)
RUN = RunSchema()

SUBMIT_PARTS = {
    "snapshot": {"type": "string", "format": "binary",
                 "description": ".tar.gz of the source directory"},
    "config": {"type": "string", "description": "JSON: the run config {script, arguments[], "
               "environment?, tags{}, timeout_s?} plus {sampling, primary_metric, "
               "max_total_runs, max_concurrent_runs?, max_duration_minutes?, policy?}"},
}


@bp.post("/experiments/<experiment>/sweeps")
@doc("Submit a sweep: a snapshot and a run config with the sweep's settings.",
     multipart=SUBMIT_PARTS, response=SweepRunSchema, status=201, errors=(400,))
def submit(experiment: str):
    check_experiment_name(experiment)
    body = config_part(SweepConfigSchema(), "a JSON run config", field_prefix="config.")
    upload = request.files.get("snapshot")
    parent, sweep = submit_sweep(store(), workspace(), experiment, body,
                                 upload.stream if upload else None, settings().max_upload_bytes)
    return {**RUN.dump(parent), "sweep": sweep}, 201


def _query(schema: Any) -> dict:
    return load(schema, {k: v for k, v in request.args.items()})


@bp.get("/runs/<run_id>/children")
@doc("A run's children in order; ?sort=primary_metric&top=N ranks a sweep's children like "
     "get_children_sorted_by_primary_metric; ?runs=true adds each child's whole run record.",
     query=ChildrenQuerySchema, response=ChildrenSchema)
def children(run_id: str):
    query = _query(ChildrenQuerySchema())
    with_runs = query.pop("runs")
    rows = list_children(store(), run_id, **query)
    if with_runs:
        for row in rows:
            row["run"] = RUN.dump(store().get_run(row["run_id"]))
    return {"children": rows}


@bp.get("/runs/<run_id>/best")
@doc("A sweep's best child by the primary metric (404 naming the metric if no child logged it).",
     query=BestQuerySchema, response=BestChildSchema)
def best(run_id: str):
    row = best_child_of(store(), run_id, **_query(BestQuerySchema()))
    return {**row, "run": RUN.dump(store().get_run(row["run_id"]))}
