"""Bearer-token auth for every route but GET /health."""
from __future__ import annotations

import hmac

from flask import Flask, current_app, request

from .errors import Unauthorized

OPEN_ENDPOINTS = {"health.health"}


def init_auth(app: Flask) -> None:
    """Refuse any request without the workspace's token (401 JSON)."""

    @app.before_request
    def _check_token():
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'.",
                               field="Authorization")
        if not hmac.compare_digest(token.strip().encode(), current_app.config["API_TOKEN"].encode()):
            raise Unauthorized("Invalid bearer token.", field="Authorization")
        return None
