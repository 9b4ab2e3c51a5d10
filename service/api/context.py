"""What every view shares: the app's store, workspace and settings, and the parsing of the
multipart `config` part and of `KEY[=VALUE]` filters."""
from __future__ import annotations

import json

from flask import current_app, request
from marshmallow import Schema

from ..errors import BadRequest
from ..settings import Settings
from ..store import Store, Workspace
from .openapi import load


def store() -> Store:
    """The app's store."""
    return current_app.config["STORE"]


def workspace() -> Workspace:
    """The app's workspace."""
    return current_app.config["WORKSPACE"]


def settings() -> Settings:
    """The app's settings."""
    return current_app.config["SETTINGS"]


def parse_pairs(values: list[str]) -> list[tuple[str, str | None]]:
    """Filters `KEY` or `KEY=VALUE` as (key, value or None)."""
    return [(k, v if sep else None) for k, sep, v in (t.partition("=") for t in values)]


def config_part(schema: Schema, what: str, field_prefix: str = "") -> dict:
    """A multipart request's `config` part (form field or file): a JSON object loaded by `schema`."""
    raw = request.form.get("config")
    if raw is None and "config" in request.files:
        raw = request.files["config"].read().decode("utf-8", "replace")
    if raw is None or raw == "":
        raise BadRequest(f"Missing the 'config' part: {what}.", field="config")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise BadRequest(f"The 'config' part is not valid JSON: {err}", field="config") from err
    if not isinstance(data, dict):
        raise BadRequest(f"The 'config' part must be a JSON object: {what}.", field="config")
    return load(schema, data, field_prefix=field_prefix)
