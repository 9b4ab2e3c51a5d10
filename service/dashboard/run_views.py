"""A run's page (and a sweep's), its files' previews and downloads, and registering a model
from one of its output files."""
from __future__ import annotations

import csv
import io
import json
from pathlib import PurePosixPath

from flask import redirect, render_template, request, send_file, url_for

from training.metrics import fold

from ..errors import BadRequest
from ..models import FRAMEWORKS, check_name, register_from_run
from ..runs import list_run_files, open_run_file, read_log
from ..store.runs import CANCEL_REASON
from ..sweeps import list_children, sweep_summary
from . import charts
from .blueprint import bp
from .context import settings, store, workspace

LOG_PAGE_BYTES = 512 * 1024
PREVIEW_BYTES = 256 * 1024
IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
          ".webp": "image/webp"}
MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle", ".onnx")


def log_so_far(run_id: str) -> tuple[str, int, bool]:
    """The log up to now (its last LOG_PAGE_BYTES), the offset to follow from, and whether the
    beginning was cut."""
    run_dir, offset, kept, cut = workspace().run_dir(run_id), 0, b"", False
    while True:
        chunk, offset = read_log(run_dir, offset)
        if not chunk:
            break
        kept += chunk
        if len(kept) > LOG_PAGE_BYTES:
            kept, cut = kept[-LOG_PAGE_BYTES:], True
    return kept.decode("utf-8", "replace"), offset, cut


def image_path(run_id: str, value: object) -> str | None:
    """The run file an image metric (run.log_image) points at, from its aml:// location."""
    prefix = f"aml://artifactId/ExperimentRun/dcid.{run_id}/"
    return value[len(prefix):] if isinstance(value, str) and value.startswith(prefix) else None


def metric_views(run_id: str, events: list[dict]) -> dict:
    """Scalars as cards, series (list metrics, repeated scalars) as charts, rows as tables,
    images inline."""
    folded, kinds = fold(events), {}
    for event in events:
        kinds.setdefault(event["name"], event["kind"])
    cards, series, tables, images = [], [], [], []
    for name, value in folded.items():
        if kinds[name] == "image":
            paths = [image_path(run_id, v) for v in (value if isinstance(value, list) else [value])]
            images += [{"name": name, "path": p} for p in paths if p]
        elif isinstance(value, dict):
            columns = {k: (v if isinstance(v, list) else [v]) for k, v in value.items()}
            length = max((len(c) for c in columns.values()), default=0)
            numeric = {k: v for k, v in columns.items() if charts.numbers(v)}
            tables.append({"name": name, "columns": list(columns), "length": length,
                           "rows": [[c[i] if i < len(c) else None for c in columns.values()]
                                    for i in range(length)],
                           "chart": charts.line_chart(numeric, name) if length > 1 else None})
        elif isinstance(value, list) and (kinds[name] == "list" or len(value) > 1):
            series.append({"name": name, "count": len(value), "last": value[-1] if value else None,
                           "chart": charts.line_chart({name: value}, name)})
        else:
            cards.append({"name": name, "value": value})
    return {"cards": cards, "series": series, "tables": tables, "images": images}


def file_tree(files: list[dict]) -> list[dict]:
    """Flat paths → nested folders [{name, path, size, children}] (folders first)."""
    root: dict = {}
    for entry in files:
        node = root
        parts = entry["path"].split("/")
        for part in parts[:-1]:
            node = node.setdefault(part + "/", {})
        node[parts[-1]] = entry

    def build(node: dict, prefix: str) -> list[dict]:
        out = []
        for name in sorted(node, key=lambda n: (not n.endswith("/"), n)):
            item = node[name]
            if name.endswith("/"):
                out.append({"name": name, "path": prefix + name,
                            "children": build(item, prefix + name)})
            else:
                out.append({"name": name, "path": item["path"], "size": item["size"],
                            "image": PurePosixPath(name).suffix.lower() in IMAGES,
                            "model": name.endswith(MODEL_SUFFIXES)})
        return out
    return build(root, "")


def sweep_view(run) -> dict | None:
    """A sweep's children by the primary metric, the best one, early-terminated ones."""
    summary = sweep_summary(store(), run)
    if summary is None:
        return None
    ranked = list_children(store(), run.id, sort="primary_metric")
    unranked = [c for c in list_children(store(), run.id)
                if c["run_id"] not in {r["run_id"] for r in ranked}]
    best = (summary.get("best") or {}).get("run_id")
    rows, params = [], []
    for child in ranked + unranked:
        record = store().get_run(child["run_id"])
        params += [p for p in child["hyperparameters"] if p not in params]
        rows.append({**child, "best": child["run_id"] == best,
                     "terminated": record.properties.get(CANCEL_REASON)
                     if record.status == "Canceled" else None})
    metric = summary["primary_metric"]["name"]
    points = [{**r["hyperparameters"], metric: r.get("best_primary_metric"), "run_id": r["run_id"]}
              for r in rows]
    return {"summary": summary, "rows": rows, "params": params, "best": best,
            "chart": charts.parallel_coordinates(points, params, metric, best)}


@bp.get("/ui/runs/<run_id>")
def run(run_id: str):
    record = store().get_run(run_id)
    log, offset, cut = log_so_far(run_id)
    children = ([] if record.kind == "sweep" else
                list(reversed(store().list_runs(parent_id=run_id, limit=1000))))
    files = list_run_files(workspace().run_dir(run_id))
    return render_template(
        "run.html", run=record, metrics=metric_views(run_id, store().get_metric_events(run_id)),
        log=log, log_offset=offset, log_cut=cut, files=file_tree(files), children=children,
        sweep=sweep_view(record), frameworks=FRAMEWORKS,
        registered=store().list_model_versions(run_id=run_id))


def _read_preview(run_id: str, name: str) -> tuple[bytes, bool]:
    with open_run_file(workspace().run_dir(run_id), name) as fh:
        data = fh.read(PREVIEW_BYTES + 1)
    return data[:PREVIEW_BYTES], len(data) > PREVIEW_BYTES


def preview(name: str, data: bytes) -> dict:
    """How a file shows: image, CSV table, pretty JSON, text, or binary (download only)."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in IMAGES:
        return {"kind": "image"}
    if b"\0" in data[:8192]:
        return {"kind": "binary"}
    text = data.decode("utf-8", "replace")
    if suffix == ".csv":
        return {"kind": "csv", "rows": list(csv.reader(io.StringIO(text)))[:500]}
    if suffix == ".json":
        try:
            return {"kind": "text", "text": json.dumps(json.loads(text), indent=2)}
        except ValueError:
            pass
    return {"kind": "text", "text": text}


@bp.get("/ui/runs/<run_id>/files/<path:name>")
def file(run_id: str, name: str):
    record = store().get_run(run_id)
    data, cut = _read_preview(run_id, name)
    return render_template("file.html", run=record, name=name, cut=cut,
                           preview=preview(name, data), frameworks=FRAMEWORKS)


@bp.get("/ui/runs/<run_id>/raw/<path:name>")
def raw(run_id: str, name: str):
    """The file itself: images inline (sandboxed), everything else as a download."""
    store().get_run(run_id)
    suffix = PurePosixPath(name).suffix.lower()
    inline = suffix in IMAGES and request.args.get("download") != "1"
    response = send_file(open_run_file(workspace().run_dir(run_id), name),
                         mimetype=IMAGES[suffix] if inline else "application/octet-stream",
                         as_attachment=not inline, download_name=name.rsplit("/", 1)[-1])
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


def _sample_input(text: str) -> list | None:
    if not text.strip():
        return None
    try:
        rows = json.loads(text)
    except ValueError as err:
        raise BadRequest(f"Sample input is not JSON: {err}.", field="sample_input") from err
    rows = rows.get("data") if isinstance(rows, dict) else rows
    if not isinstance(rows, list) or not rows or not all(isinstance(r, (list, dict))
                                                         for r in rows):
        raise BadRequest("Sample input must be a JSON list of rows (lists or objects).",
                         field="sample_input")
    return rows


@bp.post("/ui/runs/<run_id>/register")
def register(run_id: str):
    """Register a run's output file as a model version (Azure's run.register_model)."""
    form = request.form
    framework = form.get("framework") or None
    if framework is not None and framework not in FRAMEWORKS:
        raise BadRequest(f"Unknown framework {framework!r}.", field="framework")
    fields = {"name": check_name(form.get("name", "").strip()), "run_id": run_id,
              "path": form.get("path", ""), "framework": framework,
              "framework_version": None, "resource_configuration": None, "tags": {},
              "properties": {}, "description": form.get("description") or None,
              "sample_input": _sample_input(form.get("sample_input", ""))}
    model = register_from_run(store(), workspace(), fields, settings().introspect_timeout_s)
    return redirect(url_for("dashboard.model", name=model.name, version=model.version), 303)
