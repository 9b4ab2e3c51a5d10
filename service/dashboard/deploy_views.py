"""Models with their lineage, and deployments: live state, generations and rollback, the
scoring log, keys, a Test console and Consume snippets."""
from __future__ import annotations

import json
import time

import requests
from flask import jsonify, redirect, render_template, request, url_for

from .. import deployments
from ..errors import BadRequest, Conflict
from ..models import check_name
from ..store import parse_version
from .blueprint import bp
from .context import store, workspace

LOG_LINES = 200
SWAGGER_TIMEOUT_S = 2.0
TEST_TIMEOUT_S = 60.0
MAX_TEST_BYTES = 1024 * 1024


@bp.get("/ui/models")
def models():
    versions = store().list_model_versions(limit=100000)
    names: dict[str, list] = {}
    for model in versions:
        names.setdefault(model.name, []).append(model)
    return render_template("models.html", names=names)


@bp.get("/ui/models/<name>")
def model_versions(name: str):
    found = store().list_model_versions(check_name(name))
    if not found:
        store().get_model_version(name)  # Azure's ModelNotFound
    return render_template("models.html", names={name: found})


@bp.get("/ui/models/<name>/<version>")
def model(name: str, version: str):
    record = store().get_model_version(check_name(name), parse_version(version))
    run = None
    if record.run_id:
        run = store().get_run(record.run_id)
    return render_template("model.html", model=record, run=run,
                           deployments=store().deployments_using(record.id))


@bp.get("/ui/deployments")
def deployments_list():
    return render_template("deployments.html",
                           deployments=[deployments.to_view(d) for d in store().list_deployments()])


def swagger_example(view: dict) -> str:
    """The scoring server's input example (its swagger), as pretty JSON; `{}` if none."""
    example = None
    if view["swagger_uri"] and view["state"] == "Healthy":
        try:
            doc = requests.get(view["swagger_uri"], timeout=SWAGGER_TIMEOUT_S).json()
            example = find_example(doc.get("definitions", {}).get("ServiceInput") or
                                   doc.get("components", {}).get("schemas", {})
                                   .get("ServiceInput") or {})
        except (requests.RequestException, ValueError, AttributeError):
            example = None
    return json.dumps(example if example is not None else {"data": [[]]}, indent=2)


def find_example(schema: dict):
    """An example for a JSON schema: its own `example`, else one built from its parts."""
    if not isinstance(schema, dict):
        return None
    if "example" in schema:
        return schema["example"]
    if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        return {k: find_example(v) for k, v in schema["properties"].items()}
    if schema.get("type") == "array":
        item = find_example(schema.get("items") or {})
        return [] if item is None else [item]
    return None


def _keys(name: str) -> dict | None:
    try:
        return deployments.keys(store(), name)
    except Conflict:
        return None


def render_deployment(name: str, result: dict | None = None, body: str | None = None):
    view = deployments.to_view(store().get_deployment(name))
    return render_template("deployment.html", dep=view, keys=_keys(name),
                           log=deployments.logs(workspace(), store().get_deployment(name),
                                                LOG_LINES),
                           body=body if body is not None else swagger_example(view),
                           result=result)


@bp.get("/ui/deployments/<name>")
def deployment(name: str):
    return render_deployment(name)


@bp.get("/ui/deployments/<name>/state")
def deployment_state(name: str):
    view = deployments.to_view(store().get_deployment(name))
    return jsonify({k: view[k] for k in ("name", "state", "generation", "served_generation",
                                         "scoring_uri", "error")})


@bp.post("/ui/deployments/<name>/rollback")
def rollback(name: str):
    deployments.rollback(store(), name)
    return redirect(url_for("dashboard.deployment", name=name), 303)


@bp.post("/ui/deployments/<name>/keys")
def regenerate_key(name: str):
    deployments.regenerate_key(store(), name, request.form.get("key", ""))
    return redirect(url_for("dashboard.deployment", name=name) + "#keys", 303)


def send_test(name: str, body: str) -> dict:
    """POST `body` to the deployment's scoring URI (with its key): status, latency, answer."""
    dep = store().get_deployment(name)
    if not dep.scoring_uri:
        raise Conflict(f"Deployment {name!r} has no scoring URI yet ({dep.state}).", field="name")
    try:
        json.loads(body)
    except ValueError as err:
        return {"status": None, "latency_ms": None, "body": f"Not valid JSON: {err}"}
    headers = {"Content-Type": "application/json"}
    if dep.keys:
        headers["Authorization"] = f"Bearer {dep.keys[0]}"
    started = time.perf_counter()
    try:
        resp = requests.post(dep.scoring_uri, data=body.encode(), headers=headers,
                             timeout=TEST_TIMEOUT_S)
    except requests.RequestException as err:
        return {"status": None, "latency_ms": None, "body": f"No answer: {err}"}
    latency = (time.perf_counter() - started) * 1000
    text = resp.text
    try:
        text = json.dumps(resp.json(), indent=2)
    except ValueError:
        pass
    return {"status": resp.status_code, "latency_ms": round(latency, 1), "body": text[:100000]}


@bp.post("/ui/deployments/<name>/test")
def test(name: str):
    body = request.form.get("body", "")
    if len(body) > MAX_TEST_BYTES:
        raise BadRequest(f"The test body is {len(body)} characters; at most {MAX_TEST_BYTES}.",
                         field="body")
    result = send_test(name, body)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(result)
    return render_deployment(name, result, body)
