"""Every setting of the control service, declared once with its default and type."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping

PREFIX = "AMLOCAL_"
DEFAULT_WORKSPACE = "amlocal-workspace"


@dataclass(frozen=True)
class Settings:
    """Settings read from `AMLOCAL_*` variables (or a test mapping)."""

    workspace: Path = Path(DEFAULT_WORKSPACE)
    api_token: str | None = None
    max_concurrent_runs: int = 4
    cancel_grace_s: float = 3.0
    agent_poll_s: float = 0.05
    max_upload_bytes: int = 310 * 1024 * 1024
    api_workers: int = 2
    log_level: str = "INFO"
    introspect_timeout_s: float = 10.0


def _convert(annotation: str, raw: str):
    """Turn a variable's text into the field's type (annotations are strings here)."""
    if annotation == "Path":
        return Path(raw).expanduser()
    if annotation == "int":
        return int(raw)
    if annotation == "float":
        return float(raw)
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Build Settings from `AMLOCAL_<NAME>` entries of `environ` (default os.environ)."""
    environ = os.environ if environ is None else environ
    values = {}
    for f in fields(Settings):
        raw = environ.get(PREFIX + f.name.upper())
        if raw is not None and raw != "":
            try:
                values[f.name] = _convert(f.type, raw)
            except ValueError as err:
                raise ValueError(f"{PREFIX}{f.name.upper()}={raw!r} is not a valid {f.type}") from err
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "workspace" in values:
        values["workspace"] = Path(values["workspace"]).expanduser().resolve()
    else:
        values["workspace"] = Path(DEFAULT_WORKSPACE).resolve()
    return Settings(**values)
