"""A small HTTP client for the control API (the CLI speaks only through it)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import requests

from .jsonio import non_finite_floats
from .settings import load_settings
from .workspace import Workspace

DEFAULT_URL = "http://127.0.0.1:5000"


class ClientError(Exception):
    """An error answer from the service (status and message), or no answer at all."""

    def __init__(self, status: int | None, message: str, body: Any = None):
        super().__init__(f"{status}: {message}" if status else message)
        self.status, self.message, self.body = status, message, body


def find_token(environ=None) -> str | None:
    """AMLOCAL_API_TOKEN, else the token saved in the workspace (as the service finds it)."""
    environ = os.environ if environ is None else environ
    if environ.get("AMLOCAL_API_TOKEN"):
        return environ["AMLOCAL_API_TOKEN"]
    ws = Workspace(load_settings(environ).workspace)
    try:
        return ws.token_path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


class Client:
    """Verbs over HTTP; every non-2xx answer raises ClientError with the service's message."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60):
        self.url = (url or os.environ.get("AMLOCAL_URL") or DEFAULT_URL).rstrip("/")
        self.session = requests.Session()
        token = token or find_token()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            resp = self.session.request(method, self.url + path, **kwargs)
        except requests.ConnectionError as err:
            raise ClientError(None, f"cannot reach the amlocal service at {self.url} "
                                    f"(start it with `amlocal serve`)") from err
        if resp.status_code >= 400:
            try:
                body = resp.json()
                message = body.get("error", {}).get("message") or body.get("message") or resp.text
            except ValueError:
                body, message = None, resp.text
            raise ClientError(resp.status_code, message, body)
        return resp

    def get(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs) -> Any:
        return self.request("POST", path, **kwargs).json()

    def health(self) -> dict:
        return self.get("/health", timeout=2)

    def submit_run(self, experiment: str, snapshot: Path, config: dict) -> dict:
        """POST the snapshot and the run config."""
        with open(snapshot, "rb") as fh:
            return self.post(f"/experiments/{experiment}/runs",
                             files={"snapshot": ("snapshot.tar.gz", fh, "application/gzip")},
                             data={"config": json.dumps(config)})

    def get_run(self, run_id: str) -> dict:
        return self.get(f"/runs/{run_id}")

    def follow_logs(self, run_id: str, offset: int = 0) -> Iterator[bytes]:
        """The run's log as it is written, until the run ends."""
        resp = self.request("GET", f"/runs/{run_id}/logs",
                            params={"offset": offset, "follow": "true"}, stream=True,
                            timeout=(5, None))
        yield from resp.iter_content(chunk_size=None)

    def metrics(self, run_id: str) -> dict:
        return non_finite_floats(self.get(f"/runs/{run_id}/metrics")["metrics"])
