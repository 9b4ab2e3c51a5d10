"""Sweeps: submit one (HyperDrive's settings checked, the seed kept), rank its children, pick the best.

The agent's sweep driver (service/agent/sweeps.py) starts and stops the children.
"""
from __future__ import annotations

import uuid
from typing import IO

from training.sweeps import (ChildRun, SweepConfig, SweepConfigError, best_child, best_value,
                             build_sampler, parse_sweep_config, sort_children)

from .computes import resolve_compute
from .environments import resolve_environment
from .errors import BadRequest, NotFound
from .runs import check_experiment_name, store_snapshot
from .store import Run, Store, Workspace
from .store.sweeps import child_parameters

SWEEP_FIELDS = ("sampling", "primary_metric", "max_total_runs", "max_concurrent_runs",
                "max_duration_minutes", "policy")


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


def submit_sweep(store: Store, ws: Workspace, experiment: str, body: dict,
                 snapshot_stream: IO[bytes] | None, max_bytes: int) -> tuple[Run, dict]:
    """Check the sweep settings, store the snapshot, then create the queued parent (nothing on
    error). `body` is a validated run config with the sweep's fields (the API's schema)."""
    check_experiment_name(experiment)
    config, notes = stored_config(body)
    environment = body["environment"]
    if environment is not None:
        environment = resolve_environment(store, environment)
    compute = resolve_compute(store, body.get("compute_target"))
    snap = store_snapshot(ws, snapshot_stream, max_bytes, body["script"])
    parent = store.create_sweep(experiment, f"HD_{uuid.uuid4()}", body["script"],
                                body["arguments"], snap.sha256, config, notes,
                                environment=environment, tags=body["tags"],
                                timeout_s=body["timeout_s"], compute=compute)
    return parent, {"config": config, "notes": notes}


def child_rows(store: Store, parent_id: str, config: SweepConfig) -> list[ChildRun]:
    """The children as `training.sweeps.ChildRun`s: id, typed values, primary metric, state."""
    values = store.child_metric_values(parent_id, config.primary_metric.name)
    return [ChildRun(c.id, child_parameters(c), values.get(c.id, []), c.status)
            for c in store.list_children(parent_id)]


def sweep_config(store: Store, parent_id: str) -> SweepConfig:
    """The validated config of a sweep parent (NotFound when the run is not a sweep)."""
    return parse_sweep_config(store.get_sweep(parent_id).config)


def best_of(store: Store, parent_id: str, config: SweepConfig, include_failed: bool = True,
            include_canceled: bool = True) -> dict | None:
    """The best child by the primary metric, as get_best_run_by_primary_metric picks it."""
    return best_child(child_rows(store, parent_id, config), config.primary_metric.goal,
                      include_failed=include_failed, include_canceled=include_canceled)


def sweep_summary(store: Store, run: Run) -> dict | None:
    """A sweep parent's progress for GET /runs/<id>: children by state, best so far; else None."""
    if run.kind != "sweep":
        return None
    sweep = store.get_sweep(run.id)
    config = parse_sweep_config(sweep.config)
    rows = child_rows(store, run.id, config)
    by_state: dict[str, int] = {}
    for row in rows:
        by_state[row.status] = by_state.get(row.status, 0) + 1
    best = best_child(rows, config.primary_metric.goal)
    return {"primary_metric": {"name": config.primary_metric.name,
                               "goal": config.primary_metric.goal},
            "max_total_runs": config.max_total_runs,
            "max_concurrent_runs": config.max_concurrent_runs,
            "children": len(rows), "children_by_state": by_state, "best": best,
            "stop_reason": sweep.stop_reason, "notes": sweep.notes}


def list_children(store: Store, run_id: str, sort: str | None = None, reverse: bool = False,
                  discard_no_metric: bool = False, top: int | None = None) -> list[dict]:
    """A run's children in order; a sweep's ranked by the primary metric when `sort` is given."""
    run = store.get_run(run_id)
    if run.kind != "sweep":
        if sort is not None:
            raise BadRequest(f"Run {run_id!r} is not a sweep; only a sweep's children have a "
                             "primary metric to sort by.", field="sort")
        rows = [{"run_id": c.id, "hyperparameters": child_parameters(c),
                 "best_primary_metric": None, "status": c.status}
                for c in reversed(store.list_runs(parent_id=run.id, limit=1_000_000))]
    else:
        config = sweep_config(store, run.id)
        goal, found = config.primary_metric.goal, child_rows(store, run.id, config)
        if sort is None:
            rows = [{"run_id": c.run_id, "hyperparameters": c.hyperparameters,
                     "best_primary_metric": best_value(c.metrics, goal), "status": c.status}
                    for c in found]
        else:
            rows = sort_children(found, goal, reverse=reverse,
                                 discard_no_metric=discard_no_metric)
    return rows[:top] if top else rows


def best_child_of(store: Store, run_id: str, include_failed: bool = True,
                  include_canceled: bool = True) -> dict:
    """A sweep's best child row; 404 naming the primary metric when no child logged it."""
    run = store.get_run(run_id)
    if run.kind != "sweep":
        raise BadRequest(f"Run {run_id!r} is not a sweep.", field="run_id")
    config = sweep_config(store, run.id)
    row = best_of(store, run.id, config, include_failed, include_canceled)
    if row is None:
        raise NotFound(f"No child of sweep {run_id!r} has logged the primary metric "
                       f"{config.primary_metric.name!r} yet.", field="primary_metric",
                       metric=config.primary_metric.name)
    return row
