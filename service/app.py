"""The control API's application factory."""
from __future__ import annotations

import logging
from typing import Mapping

from flask import Flask

from .auth import init_auth
from .dashboard import init_dashboard
from .errors import register_error_handlers
from .api import register_blueprints
from .api.jsonio import StrictJSONProvider
from .settings import Settings, load_settings
from .store import Store, init_workspace, load_or_create_token


class ControlApp(Flask):
    """Flask, answering in strict JSON (service/api/jsonio.py)."""

    json_provider_class = StrictJSONProvider


def create_app(test_config: Mapping | None = None, settings: Settings | None = None) -> Flask:
    """Build the Flask app: settings → workspace → store → blueprints → error handlers."""
    app = ControlApp(__name__, static_folder=None)  # every route is in the OpenAPI document
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
    register_error_handlers(app)
    init_auth(app)
    register_blueprints(app)
    init_dashboard(app)
    return app
