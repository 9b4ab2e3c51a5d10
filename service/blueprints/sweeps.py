"""Sweeps: submit one, list its children by the primary metric, pick the best child."""
from __future__ import annotations

import uuid
from typing import IO, Any

from flask import Blueprint, current_app, request

from training.sweeps import (SweepConfigError, best_value, build_sampler, parse_sweep_config,
                             sort_children)

from ..errors import BadRequest, NotFound
from ..openapi import doc, load
from ..schemas.runs import RunSchema
from ..schemas.sweeps import (SWEEP_FIELDS, BestChildSchema, BestQuerySchema, ChildrenQuerySchema,
                              ChildrenSchema, SweepConfigSchema, SweepRunSchema)
from ..store import Run, Store
from ..store.sweeps import child_parameters
from ..submission import check_experiment_name, parse_config, store_snapshot
from ..sweeper import best_of, child_rows, sweep_config
from ..workspace import Workspace
from . import store, workspace

bp = Blueprint("sweeps", __name__)
RUN = RunSchema()

SUBMIT_PARTS = {
    "snapshot": {"type": "string", "format": "binary",
                 "description": ".tar.gz of the source directory"},
    "config": {"type": "string", "description": "JSON: the run config {script, arguments[], "
               "environment?, tags{}, timeout_s?} plus {sampling, primary_metric, "
               "max_total_runs, max_concurrent_runs?, max_duration_minutes?, policy?}"},
}


def stored_config(body: dict) -> tuple[dict, list[str]]:
    """Validate the sweep part; return what to store (seed drawn if none) and Azure's notes."""
    try:
        config = parse_sweep_config({k: body[k] for k in SWEEP_FIELDS if k in body})
    except SweepConfigError as err:
        field = f"config.{err.field}" if err.field else "config"
        raise BadRequest(f"Invalid field '{field}': {err.message}", field=field) from err
    stored = config.to_dict()
    seed = build_sampler(config).seed
    if seed is not None:  # a drawn seed is kept so that a restarted agent replays the same configs
        stored["sampling"]["seed"] = seed
    return stored, list(config.notes)


def submit_sweep(db: Store, ws: Workspace, experiment: str, config_text: str | None,
                 snapshot_stream: IO[bytes] | None, max_bytes: int,
                 resolve_environment: Any = None) -> tuple[Run, dict]:
    """Validate everything, store the snapshot, then create the queued parent (nothing on error)."""
    check_experiment_name(experiment)
    body = parse_config(config_text, SweepConfigSchema())
    config, notes = stored_config(body)
    environment = body["environment"]
    if environment is not None:
        if resolve_environment is None:
            raise BadRequest("Named environments are not available on this service.",
                             field="config.environment")
        environment = resolve_environment(environment)
    snap = store_snapshot(ws, snapshot_stream, max_bytes, body["script"])
    parent = db.create_sweep(experiment, f"HD_{uuid.uuid4()}", body["script"], body["arguments"],
                             snap.sha256, config, notes, environment=environment,
                             tags=body["tags"], timeout_s=body["timeout_s"])
    return parent, {"config": config, "notes": notes}


@bp.post("/experiments/<experiment>/sweeps")
@doc("Submit a sweep: a snapshot and a run config with the sweep's settings.",
     multipart=SUBMIT_PARTS, response=SweepRunSchema, status=201, errors=(400, 401, 413))
def submit(experiment: str):
    upload = request.files.get("snapshot")
    config = request.form.get("config")
    if config is None and "config" in request.files:
        config = request.files["config"].read().decode("utf-8", "replace")
    parent, sweep = submit_sweep(store(), workspace(), experiment, config,
                                 upload.stream if upload else None,
                                 current_app.config["SETTINGS"].max_upload_bytes,
                                 current_app.config.get("RESOLVE_ENVIRONMENT"))
    return {**RUN.dump(parent), "sweep": sweep}, 201


def _query(schema: Any) -> dict:
    return load(schema, {k: v for k, v in request.args.items()})


@bp.get("/runs/<run_id>/children")
@doc("A run's children in order; ?sort=primary_metric&top=N ranks a sweep's children like "
     "get_children_sorted_by_primary_metric.", query=ChildrenQuerySchema, response=ChildrenSchema)
def children(run_id: str):
    query = _query(ChildrenQuerySchema())
    run = store().get_run(run_id)
    if run.kind != "sweep":
        if query["sort"] is not None:
            raise BadRequest(f"Run {run_id!r} is not a sweep; only a sweep's children have a "
                             "primary metric to sort by.", field="sort")
        rows = [{"run_id": c.id, "hyperparameters": child_parameters(c),
                 "best_primary_metric": None, "status": c.status}
                for c in reversed(store().list_runs(parent_id=run.id, limit=1_000_000))]
    else:
        config = sweep_config(store(), run.id)
        goal, found = config.primary_metric.goal, child_rows(store(), run.id, config)
        if query["sort"] is None:
            rows = [{"run_id": c.run_id, "hyperparameters": c.hyperparameters,
                     "best_primary_metric": best_value(c.metrics, goal), "status": c.status}
                    for c in found]
        else:
            rows = sort_children(found, goal, reverse=query["reverse"],
                                 discard_no_metric=query["discard_no_metric"])
    return {"children": rows[:query["top"]] if query["top"] else rows}


@bp.get("/runs/<run_id>/best")
@doc("A sweep's best child by the primary metric (404 naming the metric if no child logged it).",
     query=BestQuerySchema, response=BestChildSchema)
def best(run_id: str):
    query = _query(BestQuerySchema())
    run = store().get_run(run_id)
    if run.kind != "sweep":
        raise BadRequest(f"Run {run_id!r} is not a sweep.", field="run_id")
    config = sweep_config(store(), run.id)
    row = best_of(store(), run.id, config, **query)
    if row is None:
        raise NotFound(f"No child of sweep {run_id!r} has logged the primary metric "
                       f"{config.primary_metric.name!r} yet.", field="primary_metric",
                       metric=config.primary_metric.name)
    return {**row, "run": RUN.dump(store().get_run(row["run_id"]))}
