"""One blueprint per resource."""
from flask import current_app

from ..errors import BadRequest

from ..store import Store
from ..workspace import Workspace


def store() -> Store:
    """The app's store."""
    return current_app.config["STORE"]


def workspace() -> Workspace:
    """The app's workspace."""
    return current_app.config["WORKSPACE"]


def parse_version(text: str) -> int | str:
    """A version in a path: a positive integer or "latest"."""
    if text == "latest":
        return text
    if not text.isdigit() or int(text) < 1:
        raise BadRequest(f"Invalid version {text!r}: a positive integer or 'latest'.",
                         field="version")
    return int(text)


def parse_pairs(values: list[str]) -> list[tuple[str, str | None]]:
    """Filters `KEY` or `KEY=VALUE` as (key, value or None)."""
    return [(k, v if sep else None) for k, sep, v in (t.partition("=") for t in values)]
