"""The CLI's HTTP client: `amlocal.client`'s, pointed at the service as service.settings says
(AMLOCAL_URL; the token is AMLOCAL_API_TOKEN, else the workspace's `api-token`, as the service
finds it)."""
from __future__ import annotations

from amlocal import client as base
from amlocal.client import (DEPLOY_WAIT_S, RUN_TERMINAL, ClientError, model_fields,  # noqa: F401
                            non_finite_floats, read_source)

from service.settings import Settings, load_settings
from service.store.workspace import Workspace


def find_token(settings: Settings) -> str | None:
    """AMLOCAL_API_TOKEN, else the token saved in the workspace (as the service finds it)."""
    if settings.api_token:
        return settings.api_token
    try:
        return Workspace(settings.workspace).token_path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


class Client(base.Client):
    """amlocal.client.Client with the URL and token from the CLI's settings unless given."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60,
                 settings: Settings | None = None):
        settings = settings or load_settings()
        super().__init__(url or settings.url, token or find_token(settings), timeout)
