"""The runs table's one query: filter, sort by any column (a metric's last, min or max too) and
page on the server, so an experiment of 10,000 runs renders one page at a time.

The store has no verb for this table (its list_runs is newest-first, unpaged), so the dashboard
reads the store's tables here, read-only, through the store's own connection.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFound
from ..store import Run, Store

COLUMNS = {  # sort key → SQL expression over `r` (runs)
    "created": "r.seq",
    "id": "r.id",
    "status": "r.status",
    "start": "r.start_time",
    "duration": "(julianday(COALESCE(r.end_time, strftime('%Y-%m-%dT%H:%M:%fZ','now'))) - "
                "julianday(r.start_time))",
    "arguments": "r.arguments",
    "tags": "r.tags",
}
NOT_NULL = {"created", "id", "status", "arguments", "tags"}
# A metric's per-run last/min/max, for the one metric sorted by. Correlated subqueries use the
# (run_id, name) index and measured fastest (bench/dashboard); a JSON string value is skipped.
NUMERIC = "kind = 'scalar' AND value NOT LIKE '\"%'"
AGGREGATES = {
    "last": f"(SELECT CAST(value AS REAL) FROM metrics WHERE run_id = r.id AND name = :metric "
            f"AND {NUMERIC} ORDER BY seq DESC LIMIT 1)",
    "min": f"(SELECT MIN(CAST(value AS REAL)) FROM metrics WHERE run_id = r.id AND name = "
           f":metric AND {NUMERIC})",
    "max": f"(SELECT MAX(CAST(value AS REAL)) FROM metrics WHERE run_id = r.id AND name = "
           f":metric AND {NUMERIC})",
}
MAX_METRIC_COLUMNS = 12
PER_PAGE = (25, 50, 100, 200)


@dataclass
class RunsQuery:
    """What the runs table shows: filters, sort column and direction, page."""

    experiment: str
    status: str | None = None
    tags: list[tuple[str, str | None]] = field(default_factory=list)
    sort: str = "created"
    descending: bool = True
    page: int = 1
    per_page: int = 50


@dataclass
class RunsPage:
    rows: list[dict]
    total: int
    pages: int
    metric_names: list[str]


def parse_tag_filters(values: list[str]) -> list[tuple[str, str | None]]:
    """`KEY` or `KEY=VALUE` → (key, value or None); blanks dropped."""
    return [(k.strip(), v if sep else None)
            for k, sep, v in (t.partition("=") for t in values if t.strip())]


def _where(query: RunsQuery) -> tuple[str, dict]:
    clauses, args = ["r.experiment = :experiment", "r.parent_id IS NULL"], {
        "experiment": query.experiment}
    if query.status:
        clauses.append("r.status = :status")
        args["status"] = query.status
    for i, (key, value) in enumerate(query.tags):
        test = "" if value is None else f" AND CAST(value AS TEXT) = :tv{i}"
        clauses.append(f"EXISTS (SELECT 1 FROM json_each(r.tags) WHERE key = :tk{i}{test})")
        args[f"tk{i}"] = key
        if value is not None:
            args[f"tv{i}"] = value
    return " AND ".join(clauses), args


def _order(query: RunsQuery, metric_names: list[str], args: dict) -> tuple[str, str]:
    """(extra column, ORDER BY) for the sort key (`m:<agg>:<metric>` for a metric); empties go last."""
    direction = "DESC" if query.descending else "ASC"
    if query.sort.startswith("m:"):
        _, agg, name = (query.sort.split(":", 2) + ["", ""])[:3]
        if agg in AGGREGATES and name in metric_names:
            args["metric"] = name
            return (f", {AGGREGATES[agg]} AS v", f"v {direction} NULLS LAST, r.seq DESC")
    key = query.sort if query.sort in COLUMNS else "created"
    expr = COLUMNS[key]
    if key in NOT_NULL:  # (an index can then give the order: no sort of every run)
        return "", f"{expr} {direction}, r.seq DESC"
    return "", f"{expr} {direction} NULLS LAST, r.seq DESC"


def metric_names(store: Store, experiment: str, newest: int = 1000) -> list[str]:
    """The scalar metric names of the experiment's newest runs, in first-logged order (the
    table's columns; reading every run's metrics would cost more than the page)."""
    rows = store.conn.execute(
        "SELECT name FROM metrics WHERE kind = 'scalar' AND run_id IN (SELECT id FROM runs WHERE "
        "experiment = ? AND parent_id IS NULL ORDER BY seq DESC LIMIT ?) GROUP BY name "
        "ORDER BY MIN(rowid) LIMIT ?", (experiment, newest, MAX_METRIC_COLUMNS))
    return [r[0] for r in rows]


def experiment_exists(store: Store, experiment: str) -> None:
    """NotFound unless the experiment exists (the store's get_experiment counts every run)."""
    if store.conn.execute("SELECT 1 FROM experiments WHERE name = ?",
                          (experiment,)).fetchone() is None:
        raise NotFound(f"Experiment {experiment!r} not found.", field="experiment")


def metric_summaries(store: Store, run_ids: list[str]) -> dict[str, dict[str, dict]]:
    """run id → metric name → {last, min, max, count} for scalar metrics."""
    if not run_ids:
        return {}
    marks = ",".join("?" * len(run_ids))
    out: dict[str, dict[str, dict]] = {}
    for row in store.conn.execute(
            f"SELECT run_id, name, COUNT(*) AS n, MIN(CASE WHEN json_type(value) IN "
            f"('integer','real') THEN CAST(value AS REAL) END) AS lo, MAX(CASE WHEN "
            f"json_type(value) IN ('integer','real') THEN CAST(value AS REAL) END) AS hi, "
            f"MAX(seq) AS last_seq FROM metrics WHERE kind = 'scalar' AND run_id IN ({marks}) "
            f"GROUP BY run_id, name", run_ids):
        out.setdefault(row["run_id"], {})[row["name"]] = {
            "min": row["lo"], "max": row["hi"], "count": row["n"], "seq": row["last_seq"]}
    pairs = [(run_id, m["seq"]) for run_id, ms in out.items() for m in ms.values()]
    for start in range(0, len(pairs), 400):
        chunk = pairs[start:start + 400]
        cond = " OR ".join("(run_id = ? AND seq = ?)" for _ in chunk)
        for row in store.conn.execute(f"SELECT run_id, name, value FROM metrics WHERE {cond}",
                                      [x for pair in chunk for x in pair]):
            out[row["run_id"]][row["name"]]["last"] = json.loads(row["value"])
    return out


def runs_page(store: Store, query: RunsQuery) -> RunsPage:
    """One page of an experiment's top-level runs with their metric summaries."""
    names = metric_names(store, query.experiment)
    where, args = _where(query)
    total = store.conn.execute(f"SELECT COUNT(*) FROM runs r WHERE {where}", args).fetchone()[0]
    pages = max(1, math.ceil(total / query.per_page))
    page = min(max(1, query.page), pages)
    column, order = _order(query, names, args)
    args.update(limit=query.per_page, offset=(page - 1) * query.per_page)
    ids = [r[0] for r in store.conn.execute(
        f"SELECT r.id{column} FROM runs r WHERE {where} ORDER BY {order} LIMIT :limit "
        f"OFFSET :offset", args)]
    runs = [store.get_run(i) for i in ids]  # the store's own verb: a page is 25–200 runs
    metrics = metric_summaries(store, [r.id for r in runs])
    query.page = page
    return RunsPage([{"run": r, "metrics": metrics.get(r.id, {})} for r in runs], total, pages,
                    names)


def last_statuses(store: Store, experiment: str, limit: int = 500) -> dict[str, dict[str, Any]]:
    """The newest top-level runs' status and times (what the live table follows)."""
    rows = store.conn.execute(
        "SELECT id, status, start_time, end_time FROM runs WHERE experiment = ? AND parent_id IS "
        "NULL ORDER BY seq DESC LIMIT ?", (experiment, limit))
    return {r["id"]: {"status": r["status"], "start_time": r["start_time"],
                      "end_time": r["end_time"]} for r in rows}


def experiment_rows(store: Store) -> list[dict]:
    """Experiments with run counts, the newest run's status and the last activity."""
    out = []
    for exp in store.list_experiments():
        newest: list[Run] = store.list_runs(exp["name"], top_level=True, limit=1)
        activity = store.conn.execute(
            "SELECT MAX(COALESCE(end_time, start_time, created_time)) FROM runs WHERE "
            "experiment = ?", (exp["name"],)).fetchone()[0]
        out.append({**exp, "last_status": newest[0].status if newest else None,
                    "last_activity": activity})
    return out
