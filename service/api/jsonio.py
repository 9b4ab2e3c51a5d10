"""The control API's JSON, both ways: bounded in, strict out.

In: a body or a multipart `config` part is at most MAX_JSON_BYTES and nests at most
MAX_JSON_DEPTH arrays/objects deep, else a 413/400 naming the field (Python's parser would raise
RecursionError on a document 100,000 deep, and every deep value is walked again by marshmallow,
the store and the answer). Every JSON route parses through `parse_json`.

Out: a NaN or infinite float becomes "NaN"/"Infinity"/"-Infinity". Python's json writes them as
bare NaN/Infinity, which is not JSON and breaks strict parsers (JavaScript, Go, jq). Training
scripts do log them (a diverged loss), so they are written as strings, as proto3's JSON mapping and
MLflow's REST API do; our client turns them back into floats (service/cli/client.py,
non_finite_floats).
"""
from __future__ import annotations

import json
import math
from typing import Any

from flask.json.provider import DefaultJSONProvider

from ..errors import BadRequest, PayloadTooLarge

MAX_JSON_BYTES = 16 * 1024 * 1024  # inline deployment sources are at most 5 MiB of text
MAX_JSON_DEPTH = 64


def parse_json(data: bytes | str, field: str = "body") -> Any:
    """`data` as JSON within the size and depth bounds, or a 413/400 naming `field`."""
    if len(data) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"The {field} is {len(data)} bytes of JSON; at most "
                              f"{MAX_JSON_BYTES} are allowed.", field=field)
    try:
        value = json.loads(data)
    except RecursionError as err:
        raise BadRequest(_too_deep(field), field=field) from err
    except ValueError as err:  # JSONDecodeError, or bytes that are not UTF-8/16/32
        raise BadRequest(f"The {field} is not valid JSON: {err}", field=field) from err
    if json_depth(value) > MAX_JSON_DEPTH:
        raise BadRequest(_too_deep(field), field=field)
    return value


def _too_deep(field: str) -> str:
    return f"The {field} nests arrays and objects more than {MAX_JSON_DEPTH} deep."


def json_depth(value: Any) -> int:
    """How deep arrays and objects nest in a parsed value (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_JSON_DEPTH:  # deeper is refused anyway: stop walking
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _as_text(value: float) -> str:
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def finite_json(value: Any) -> Any:
    """`value` with every non-finite float inside it replaced by its string form."""
    if isinstance(value, float):
        return value if math.isfinite(value) else _as_text(value)
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's provider, bounded in (`parse_json`) and with allow_nan=False out (only a body
    holding NaN/Infinity pays for the walk)."""

    sort_keys = False  # keep state order and Azure-like field order

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse_json(s)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs["allow_nan"] = False
        try:
            return super().dumps(obj, **kwargs)
        except ValueError:
            return super().dumps(finite_json(obj), **kwargs)
