"""Sign-in, experiments, an experiment's runs, and compare."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for

from training.metrics import fold

from ..errors import BadRequest
from ..runs import check_experiment_name
from ..store.runs import ACTIVE, PENDING, TERMINAL
from . import charts, queries, session
from .blueprint import bp
from .context import store

STATUSES = (*PENDING, *ACTIVE, *TERMINAL)
MAX_COMPARE = 10


@bp.get("/")
def home():
    return redirect(url_for("dashboard.experiments"))


@bp.route("/ui/sign-in", methods=["GET", "POST"])
def sign_in():
    error = None
    if request.method == "POST":
        session.check_csrf()
        if session.token_matches(request.form.get("token", "")):
            session.open_session()
            return redirect(session.safe_next(request.form.get("next")))
        error = "That is not this workspace's API token."
    return render_template("sign_in.html", error=error, next=request.values.get("next", "")), \
        401 if error else 200


@bp.post("/ui/sign-out")
def sign_out():
    session.close_session()
    return redirect(url_for("dashboard.sign_in"))


@bp.get("/ui/")
def experiments():
    return render_template("experiments.html", experiments=queries.experiment_rows(store()))


def runs_query(experiment: str) -> queries.RunsQuery:
    """The runs table's query from the URL (bad values fall back to the defaults)."""
    args = request.args
    status = args.get("status") if args.get("status") in STATUSES else None
    per_page = args.get("per_page", type=int)
    return queries.RunsQuery(
        experiment=experiment, status=status,
        tags=queries.parse_tag_filters(args.getlist("tag")),
        sort=args.get("sort", "created")[:300], descending=args.get("order", "desc") != "asc",
        page=max(1, args.get("page", 1, type=int) or 1),
        per_page=per_page if per_page in queries.PER_PAGE else 50)


@bp.get("/ui/experiments/<experiment>")
def experiment(experiment: str):
    check_experiment_name(experiment)
    queries.experiment_exists(store(), experiment)
    query = runs_query(experiment)
    page = queries.runs_page(store(), query)
    if request.args.get("partial") == "rows":  # the live table's refresh: rows, count aside
        rows = render_template("_runs_rows.html", experiment=experiment, query=query, page=page)
        return rows, {"x-run-count": runs_count_text(page.total, query.page, page.pages)}
    return render_template("runs.html", experiment=experiment, query=query, page=page,
                           statuses=STATUSES, count=runs_count_text(page.total, query.page,
                                                                    page.pages))


def runs_count_text(total: int, page: int, pages: int) -> str:
    """`12 runs · page 1 of 1`."""
    return f"{total} run{'' if total == 1 else 's'} · page {page} of {pages}"


def _compare_rows(runs, key) -> list[dict]:
    names: list[str] = []
    for run in runs:
        names += [n for n in key(run) if n not in names]
    rows = []
    for name in names:
        cells = [key(run).get(name) for run in runs]
        rows.append({"name": name, "cells": cells,
                     "differs": len({repr(c) for c in cells}) > 1})
    return rows


def _arguments(run) -> dict:
    """A run's arguments as {--flag: value} pairs (positional ones by index)."""
    out, args, i = {}, list(run.arguments), 0
    while i < len(args):
        if args[i].startswith("-") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[args[i]], i = args[i + 1], i + 2
        else:
            out[f"[{i}]" if not args[i].startswith("-") else args[i]] = (
                args[i] if not args[i].startswith("-") else True)
            i += 1
    return out


@bp.get("/ui/compare")
def compare():
    ids = list(dict.fromkeys(request.args.getlist("run")))
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise BadRequest(f"Select 2 to {MAX_COMPARE} runs to compare ({len(ids)} selected).",
                         field="run")
    runs = [store().get_run(i) for i in ids]
    metrics = {r.id: fold(store().get_metric_events(r.id)) for r in runs}
    sections = {
        "Arguments": _compare_rows(runs, _arguments),
        "Tags": _compare_rows(runs, lambda r: r.tags),
        "Metrics": _compare_rows(runs, lambda r: {k: v for k, v in metrics[r.id].items()
                                                  if not isinstance(v, (list, dict))}),
    }
    lists = sorted({n for m in metrics.values() for n, v in m.items() if isinstance(v, list)})
    chosen = request.args.get("metric") if request.args.get("metric") in lists else (
        lists[0] if lists else None)
    chart = charts.line_chart({r.id: metrics[r.id].get(chosen) or [] for r in runs},
                              chosen or "") if chosen else None
    return render_template("compare.html", runs=runs, sections=sections, lists=lists,
                           chosen=chosen, chart=chart, only_diff=request.args.get("only") == "1")
