"""Bearer-token auth for every route but GET /health.

Two kinds of token. The workspace's (`AMLOCAL_API_TOKEN`, else `<workspace>/api-token`) may do
anything. A run-scoped token (`AZUREML_RUN_TOKEN`: made when the agent starts a run, handed to its
script, stored as a sha256) may do only what Azure ML lets a run do to itself, on itself and on
its child runs, while the run is active: read the run, its metrics, files and log, list its
children; log metrics, tags and properties; upload files; create child runs and end them; register
a model from its files. Anything else is a 403; a run token of an ended run is a 401.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from flask import Flask, current_app, g, request

from .errors import Forbidden, Unauthorized
from .store import RUN_TOKEN_PREFIX, Store

OPEN_ENDPOINTS = {"health.health"}
# The dashboard checks a browser session or the same bearer token itself (service/dashboard/).
OPEN_BLUEPRINTS = {"dashboard"}
# What a run token may call: the endpoint, and the view argument naming the run it acts on.
RUN_TOKEN_ROUTES = {
    "runs.show": "run_id",                      # GET   /runs/<id>
    "runs.update_tags": "run_id",               # PATCH /runs/<id>/tags
    "run_files.logs": "run_id",                 # GET   /runs/<id>/logs
    "run_files.metrics": "run_id",              # GET   /runs/<id>/metrics
    "run_files.files": "run_id",                # GET   /runs/<id>/files
    "run_files.download": "run_id",             # GET   /runs/<id>/files/<path>
    "sweeps.children": "run_id",                # GET   /runs/<id>/children
    "run_tracking.log_metrics": "run_id",       # POST  /runs/<id>/metrics
    "run_tracking.add_properties": "run_id",    # PATCH /runs/<id>/properties
    "run_tracking.upload_file": "run_id",       # PUT   /runs/<id>/files/<path>
    "run_tracking.create_child": "run_id",      # POST  /runs/<id>/children
    "run_tracking.set_status": "run_id",        # POST  /runs/<id>/status
}
REGISTER_ENDPOINT = "models.register"           # POST  /models {run_id, ...}: its own files only
ALLOWED = ("read and log to its own run and its child runs, upload their files, create child "
           "runs and register models from their files")


@dataclass(frozen=True)
class RunScope:
    """Who a run token speaks for."""

    run_id: str
    experiment: str


def run_scope() -> RunScope | None:
    """The run this request's token belongs to; None for the workspace's token."""
    return g.get("run_scope")


def _store() -> Store:
    return current_app.config["STORE"]


def check_in_scope(scope: RunScope, target: object) -> None:
    """A run token acts on its own run and the runs below it only (403 otherwise)."""
    if not isinstance(target, str) or not _store().is_in_run_tree(target, scope.run_id):
        raise Forbidden(f"This token belongs to run {scope.run_id!r}: it may act on that run and "
                        f"its child runs only, not on {target!r}.", field="run_id")


def check_registration(scope: RunScope, run_id: str | None, uploads: bool) -> None:
    """A run token registers a model only from its own (or a child run's) files."""
    if uploads or not run_id:
        raise Forbidden("A run token registers a model only from its run's files: send JSON "
                        f"{{name, run_id: {scope.run_id!r}, path}}.", field="run_id")
    check_in_scope(scope, run_id)


def authorize_run_token(scope: RunScope) -> None:
    """Refuse (403) what a run token may not do: other runs, and everything but RUN_TOKEN_ROUTES.
    A registration's run is in its body: the view checks it (check_registration), once parsed."""
    if request.endpoint == REGISTER_ENDPOINT:
        return
    if request.endpoint not in RUN_TOKEN_ROUTES:
        raise Forbidden(f"A run token cannot {request.method} {request.path}: it may only "
                        f"{ALLOWED}.", field="Authorization")
    check_in_scope(scope, (request.view_args or {}).get(RUN_TOKEN_ROUTES[request.endpoint]))


def init_auth(app: Flask) -> None:
    """Refuse any request without a valid token (401 JSON), and a run token's overreach (403)."""

    @app.before_request
    def _check_token():
        g.run_scope = None
        if request.endpoint in OPEN_ENDPOINTS or request.blueprint in OPEN_BLUEPRINTS:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'.",
                               field="Authorization")
        if hmac.compare_digest(token.encode(), current_app.config["API_TOKEN"].encode()):
            return None
        run = _store().run_for_token(token) if token.startswith(RUN_TOKEN_PREFIX) else None
        if run is None:
            raise Unauthorized("Invalid or expired run token: a run token is valid only while "
                               "its run is active." if token.startswith(RUN_TOKEN_PREFIX) else
                               "Invalid bearer token.", field="Authorization")
        g.run_scope = RunScope(run.id, run.experiment)
        authorize_run_token(g.run_scope)
        return None
