"""Where a notebook finds the amlocal service: its URL and bearer token.

As the CLI does: `AMLOCAL_URL` (default http://127.0.0.1:5000) and `AMLOCAL_API_TOKEN`, else the
token the service saved in its workspace (`AMLOCAL_WORKSPACE`, default ./amlocal-workspace,
file `api-token`). A `config.json` (the file `Workspace.from_config()` reads) may carry an
`amlocal` section `{"url", "token", "workspace"}`; the variables win over it. This package reads
these three variables itself because it never imports the service (service/settings.py declares
them for the service and the CLI).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

DEFAULT_URL = "http://127.0.0.1:5000"
DEFAULT_WORKSPACE = "amlocal-workspace"
TOKEN_FILE = "api-token"


@dataclass(frozen=True)
class ServiceLocation:
    url: str
    token: str | None


def _token_in(workspace: Path) -> str | None:
    try:
        return (workspace / TOKEN_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def find_service(section: Mapping | None = None,
                 environ: Mapping[str, str] | None = None) -> ServiceLocation:
    """The service's URL and token from the variables, then config.json's `amlocal` section."""
    environ = os.environ if environ is None else environ
    section = section or {}
    url = environ.get("AMLOCAL_URL") or section.get("url") or DEFAULT_URL
    token = environ.get("AMLOCAL_API_TOKEN") or section.get("token")
    if not token:
        workspace = environ.get("AMLOCAL_WORKSPACE") or section.get("workspace") \
            or DEFAULT_WORKSPACE
        token = _token_in(Path(workspace).expanduser())
    return ServiceLocation(str(url).rstrip("/"), token)
