"""What every view shares: the app's store, workspace and settings, and the parsing of a JSON
body, of the multipart `config` part and of `KEY[=VALUE]` filters."""
from __future__ import annotations

from flask import current_app, request
from marshmallow import Schema

from ..errors import BadRequest, PayloadTooLarge
from ..settings import Settings
from ..store import Store, Workspace
from .jsonio import MAX_JSON_BYTES, parse_json
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


def json_body(what: str) -> dict:
    """The request's body as a JSON object (bounded: service/api/jsonio.py), or a 4xx on `body`."""
    if not request.is_json:
        raise BadRequest(f"Send {what} with Content-Type: application/json.", field="body")
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"The body is {request.content_length} bytes of JSON; at most "
                              f"{MAX_JSON_BYTES} are allowed.", field="body")
    data = parse_json(request.get_data(cache=True))
    if not isinstance(data, dict):
        raise BadRequest(f"The body must be a JSON object: {what}.", field="body")
    return data


def config_part(schema: Schema, what: str, field_prefix: str = "") -> dict:
    """A multipart request's `config` part (form field or file): a JSON object loaded by `schema`."""
    raw = request.form.get("config")
    if raw is None and "config" in request.files:
        raw = request.files["config"].read().decode("utf-8", "replace")
    if raw is None or raw == "":
        raise BadRequest(f"Missing the 'config' part: {what}.", field="config")
    data = parse_json(raw, field="config")
    if not isinstance(data, dict):
        raise BadRequest(f"The 'config' part must be a JSON object: {what}.", field="config")
    return load(schema, data, field_prefix=field_prefix)
