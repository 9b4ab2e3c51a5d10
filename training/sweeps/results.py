"""Ranking a sweep's children as HyperDriveRun does (`get_children_sorted_by_primary_metric`)."""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

from training.sweeps.config import parse_goal

TERMINAL_STATES = frozenset({"Completed", "Failed", "Canceled"})


class ChildRun(NamedTuple):
    """One child as the store knows it: id, sampled values, logged primary metric, state."""

    run_id: str
    hyperparameters: dict[str, Any]
    metrics: Sequence[float]  # every value the child logged under the primary metric's name
    status: str


def best_value(values: Sequence[float], goal: str) -> float | None:
    """A child's best logged value: max for maximize, min for minimize; None if none is usable."""
    usable = [float(v) for v in values
              if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if not usable:
        return None
    return max(usable) if parse_goal(goal) == "maximize" else min(usable)


def sort_children(children: Sequence[ChildRun], goal: str, top: int = 0, reverse: bool = False,
                  discard_no_metric: bool = False) -> list[dict]:
    """Children best first as `{run_id, hyperparameters, best_primary_metric, status}` dicts.

    As in Azure ML: children without the metric come last (or are dropped), `reverse` only
    reorders those with it, ties keep the children's order, `top=0` means all.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValueError("top expects 0 or a positive integer")
    maximize = parse_goal(goal) == "maximize"
    ranked, unranked = [], []
    for child in children:
        best = best_value(child.metrics, goal)
        row = {"run_id": child.run_id, "hyperparameters": child.hyperparameters,
               "best_primary_metric": best, "status": child.status}
        if best is not None:
            ranked.append(row)
        elif not discard_no_metric:
            unranked.append(row)
    # sorted() is stable in both directions, which is what keeps ties in child order.
    ranked = sorted(ranked, key=lambda row: row["best_primary_metric"],
                    reverse=maximize != reverse)
    rows = ranked + unranked
    return rows if top == 0 else rows[:top]


def best_child(children: Sequence[ChildRun], goal: str, include_failed: bool = True,
               include_canceled: bool = True) -> dict | None:
    """The best child that logged the metric (like `get_best_run_by_primary_metric`), or None."""
    for row in sort_children(children, goal, discard_no_metric=True):
        if row["status"] == "Failed" and not include_failed:
            continue
        if row["status"] == "Canceled" and not include_canceled:
            continue
        return row
    return None
