"""The web dashboard: server-rendered pages over the same domain and store the API views use.

Mounted at `/` (the home page) and `/ui/...` (every other page); the JSON API keeps its paths.
A browser signs in once with the API token and then holds a signed, HttpOnly, SameSite=Strict
session cookie; scripts may send `Authorization: Bearer <token>` instead.
"""
from __future__ import annotations

import hashlib
import hmac

from flask import Flask

PREFIX = "/ui"


def init_dashboard(app: Flask) -> None:
    """Register the dashboard's blueprint and its session cookie settings."""
    from . import deploy_views, pages, run_views, streams  # noqa: F401 - they add routes to bp
    from .blueprint import bp

    token = app.config["API_TOKEN"].encode()
    # Every gunicorn worker derives the same key; a new API token ends every session.
    app.secret_key = hmac.new(token, b"amlocal-dashboard-session", hashlib.sha256).hexdigest()
    app.config.update(SESSION_COOKIE_NAME="amlocal_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_PATH="/")
    app.register_blueprint(bp)
