"""fold(): Azure ML's get_metrics() shapes from a run's events."""
from __future__ import annotations

from typing import Any

import pytest

from training.metrics import fold, metric_names


def metric(name: str, kind: str, value: Any) -> dict[str, Any]:
    """One metric event as the run context writes it."""
    return {"type": "metric", "name": name, "kind": kind, "value": value, "step": None, "ts": 0.0}


CASES = {
    "scalar-once": ([metric("acc", "scalar", 0.9)], {"acc": 0.9}),
    "scalar-repeated": ([metric("loss", "scalar", 3), metric("loss", "scalar", 2.5)],
                        {"loss": [3, 2.5]}),
    "list": ([metric("l", "list", [1, 2, 3])], {"l": [1, 2, 3]}),
    "list-of-one": ([metric("l", "list", [7])], {"l": 7}),
    "empty-list": ([metric("l", "list", [])], {}),
    "list-then-scalar": ([metric("l", "list", [1, 2]), metric("l", "scalar", 3)],
                         {"l": [1, 2, 3]}),
    "row-once": ([metric("t", "row", {"x": 1, "y": 2})], {"t": {"x": 1, "y": 2}}),
    "rows": ([metric("t", "row", {"x": 1, "y": 2}), metric("t", "row", {"x": 3, "y": 4})],
             {"t": {"x": [1, 3], "y": [2, 4]}}),
    "row-new-column": ([metric("t", "row", {"x": 1}), metric("t", "row", {"x": 2, "z": 5})],
                       {"t": {"x": [1, 2], "z": [None, 5]}}),
    "table": ([metric("t", "table", {"a": [1, 2], "b": ["p", "q"]})],
              {"t": {"a": [1, 2], "b": ["p", "q"]}}),
    "table-one-row": ([metric("t", "table", {"a": [1], "b": [2]})], {"t": {"a": 1, "b": 2}}),
    "table-then-row": ([metric("t", "table", {"a": [1, 2]}), metric("t", "row", {"a": 3})],
                       {"t": {"a": [1, 2, 3]}}),
    "mixed-family-ignored": ([metric("m", "scalar", 1), metric("m", "row", {"a": 1})], {"m": 1}),
    "other-events-ignored": ([{"type": "tags", "tags": {"a": "b"}}, {"type": "metric"},
                              metric("k", "video", "x"), metric("ok", "scalar", None)],
                             {"ok": None}),
    "image-is-its-location": ([metric("roc", "image", "aml://artifactId/ExperimentRun/dcid.r/roc.png")],
                              {"roc": "aml://artifactId/ExperimentRun/dcid.r/roc.png"}),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_fold_shapes(case: str) -> None:
    events, expected = CASES[case]
    assert fold(events) == expected


def test_metric_names_in_first_logged_order() -> None:
    events = [metric("b", "scalar", 1), metric("a", "scalar", 1), metric("b", "scalar", 2)]
    assert metric_names(events) == ["b", "a"]
