"""What every page shares: the app's store, workspace and settings (as the API views reach
them), and small formatting helpers for the templates."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import current_app

from ..settings import Settings
from ..store import Store, Workspace


def store() -> Store:
    """The app's store."""
    return current_app.config["STORE"]


def workspace() -> Workspace:
    """The app's workspace."""
    return current_app.config["WORKSPACE"]


def settings() -> Settings:
    """The app's settings."""
    return current_app.config["SETTINGS"]


def parse_time(text: str | None) -> datetime | None:
    """An ISO time from the store (…Z) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def duration(start: str | None, end: str | None) -> str:
    """`1h 02m`, `3m 05s`, `4.2s`, or an empty string before the start."""
    begin, finish = parse_time(start), parse_time(end)
    if begin is None:
        return ""
    if finish is None:
        finish = datetime.now(begin.tzinfo)
    seconds = max(0.0, (finish - begin).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def short_time(text: str | None) -> str:
    """`2026-12-02 03:10:24` from the store's ISO time."""
    return text.replace("T", " ")[:19] if text else ""


def value(obj: Any) -> str:
    """A metric or tag value as text (numbers to 4 significant digits)."""
    if isinstance(obj, float):
        return f"{obj:.4g}" if abs(obj) < 1e6 else f"{obj:.6g}"
    if isinstance(obj, (dict, list)):
        return json.dumps(obj)
    return "" if obj is None else str(obj)


def register(app_or_bp) -> None:
    """The helpers as Jinja filters."""
    app_or_bp.add_app_template_filter(duration, "duration")
    app_or_bp.add_app_template_filter(short_time, "short_time")
    app_or_bp.add_app_template_filter(value, "value")
