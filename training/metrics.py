"""Fold a run's events into Azure ML's `get_metrics()` shapes.

Standard library only: the in-script run context loads this file by path inside interpreters
where amlocal is not installed.

Shapes (azureml-core `get_cells_from_metric_v2_dto`): a scalar or list metric with one value
gives that value, with several a list in log order; a table metric (`log_row`, `log_table`) with
one row gives `{column: value}`, with several `{column: [values]}`; a column missing from some
rows is filled with None.
"""
from __future__ import annotations

from typing import Any, Iterable

SCALAR_KINDS = ("scalar", "list", "image")  # an image metric's value is its aml:// location
TABLE_KINDS = ("row", "table")


def _rows(kind: str, value: Any) -> list[dict[str, Any]]:
    """The rows a row/table event adds: a row is one dict, a table is a dict of columns."""
    if kind == "row":
        return [dict(value)]
    columns = {key: (col if isinstance(col, list) else [col]) for key, col in value.items()}
    length = max((len(col) for col in columns.values()), default=0)
    return [{key: (col[i] if i < len(col) else None) for key, col in columns.items()}
            for i in range(length)]


def _values(kind: str, value: Any) -> list[Any]:
    """The values a scalar/list event adds."""
    return list(value) if kind == "list" else [value]


def _table_shape(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows as Azure returns them: one row → {col: value}; several → {col: [values]}."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    if len(rows) == 1:
        return {key: rows[0].get(key) for key in columns}
    return {key: [row.get(key) for row in rows] for key in columns}


def fold(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Azure ML's get_metrics() dict from a run's events (non-metric events are ignored).

    A name keeps the family (scalar/list or row/table) of its first event; later events of the
    other family are ignored, as the run context refuses them in the first place.
    """
    family: dict[str, str] = {}
    collected: dict[str, list[Any]] = {}
    for event in events:
        if event.get("type") != "metric":
            continue
        name, kind, value = event.get("name"), event.get("kind"), event.get("value")
        if kind not in SCALAR_KINDS + TABLE_KINDS or not isinstance(name, str):
            continue
        this_family = "table" if kind in TABLE_KINDS else "scalar"
        if family.setdefault(name, this_family) != this_family:
            continue
        adding = _rows(kind, value) if this_family == "table" else _values(kind, value)
        collected.setdefault(name, []).extend(adding)
    result: dict[str, Any] = {}
    for name, items in collected.items():
        if not items:
            continue  # an empty log_list stores nothing, as in Azure ML
        if family[name] == "table":
            result[name] = _table_shape(items)
        else:
            result[name] = items[0] if len(items) == 1 else items
    return result


def metric_names(events: Iterable[dict[str, Any]]) -> list[str]:
    """The metric names in first-logged order."""
    names: list[str] = []
    for event in events:
        if event.get("type") == "metric" and event.get("name") not in names:
            names.append(event["name"])
    return names
