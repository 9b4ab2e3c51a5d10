"""The control API's application factory."""
from __future__ import annotations

import logging
from typing import Mapping

from flask import Flask

from .auth import init_auth
from .errors import register_error_handlers
from .jsonio import StrictJSONProvider
from .settings import Settings, load_settings
from .store import Store
from .workspace import init_workspace, load_or_create_token


class ControlApp(Flask):
    """Flask, answering in strict JSON (service/jsonio.py)."""

    json_provider_class = StrictJSONProvider


def create_app(test_config: Mapping | None = None, settings: Settings | None = None) -> Flask:
    """Build the Flask app: settings → workspace → store → blueprints → error handlers."""
    app = ControlApp(__name__)
    if settings is None:
        env = dict(test_config or {})
        settings = load_settings(env if test_config is not None else None)
    workspace = init_workspace(settings.workspace)
    app.config.update(
        SETTINGS=settings,
        WORKSPACE=workspace,
        STORE=Store(workspace.db_path),
        API_TOKEN=load_or_create_token(workspace, settings.api_token),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
    )
    logging.getLogger("amlocal").setLevel(settings.log_level)
    from .envresolve import make_environment_resolver

    app.config["RESOLVE_ENVIRONMENT"] = make_environment_resolver(app.config["STORE"], workspace)
    register_error_handlers(app)
    init_auth(app)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from .blueprints import deployments, environments, health, models, run_files, runs, sweeps

    for module in (health, run_files, runs, models, deployments, environments, sweeps):
        app.register_blueprint(module.bp)
