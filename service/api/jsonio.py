"""Strict JSON out of the control API: a NaN or infinite float becomes "NaN"/"Infinity"/"-Infinity".

Python's json writes them as bare NaN/Infinity, which is not JSON and breaks strict parsers
(JavaScript, Go, jq). Training scripts do log them (a diverged loss), so they are written as
strings, as proto3's JSON mapping and MLflow's REST API do; our client turns them back into floats
(service/cli/client.py, non_finite_floats).
"""
from __future__ import annotations

import math
from typing import Any

from flask.json.provider import DefaultJSONProvider


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
    """Flask's provider with allow_nan=False; only a body holding NaN/Infinity pays for the walk."""

    sort_keys = False  # keep state order and Azure-like field order

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs["allow_nan"] = False
        try:
            return super().dumps(obj, **kwargs)
        except ValueError:
            return super().dumps(finite_json(obj), **kwargs)
