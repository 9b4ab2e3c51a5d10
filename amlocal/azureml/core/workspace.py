"""azureml.core.Workspace: one amlocal service, found as the CLI finds it."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ...client import Client
from ...config import find_service
from .._base import Mirrored
from ..exceptions import UserErrorException

CONFIG_NAMES = ("config.json", os.path.join(".azureml", "config.json"),
                os.path.join("aml_config", "config.json"))
LOCAL = {"subscription_id": "amlocal", "resource_group": "amlocal", "workspace_name": "amlocal"}


def _find_config(path: str | None, file_name: str | None) -> Path | None:
    """config.json in `path` (a file or a folder) or the current folder and its parents."""
    if path and os.path.isfile(path):
        return Path(path)
    start = Path(path or os.getcwd()).resolve()
    names = [file_name] if file_name else CONFIG_NAMES
    for folder in (start, *start.parents):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    if path or file_name:
        raise UserErrorException(
            f"We could not find config.json in: {start} or in its parent directories. Please "
            "provide the full path to the config file or ensure that config.json exists in the "
            "parent directories.")
    return None


class Workspace(Mirrored):
    """An amlocal service seen as an Azure ML workspace (its names come from config.json)."""

    def __init__(self, subscription_id: str | None = None, resource_group: str | None = None,
                 workspace_name: str | None = None, auth: Any = None, _location: str | None = None,
                 _client: Client | None = None, _config: dict | None = None, **_kwargs: Any):
        config = _config or {}
        self.subscription_id = subscription_id or config.get("subscription_id") \
            or LOCAL["subscription_id"]
        self.resource_group = resource_group or config.get("resource_group") \
            or LOCAL["resource_group"]
        self.name = workspace_name or config.get("workspace_name") or LOCAL["workspace_name"]
        self.location = _location or config.get("location") or "local"
        if _client is None:
            found = find_service(config.get("amlocal"))
            _client = Client(found.url, found.token)
        self._client = _client

    @staticmethod
    def from_config(path: str | None = None, auth: Any = None, _logger: Any = None,
                    _file_name: str | None = None) -> "Workspace":
        """config.json (searched like Azure's) names the workspace; its `amlocal` section and the
        AMLOCAL_* variables find the service. Without a config.json: the local service."""
        found = _find_config(path, _file_name)
        config = json.loads(found.read_text(encoding="utf-8")) if found else {}
        return Workspace(_config=config)

    @staticmethod
    def get(name: str, auth: Any = None, subscription_id: str | None = None,
            resource_group: str | None = None, location: str | None = None, **_kwargs: Any):
        return Workspace(subscription_id, resource_group, name, _location=location)

    # -- what the workspace holds ---------------------------------------------------------------
    @property
    def experiments(self) -> dict:
        from .experiment import Experiment
        found = self._client.get("/experiments")["experiments"]
        return {e["name"]: Experiment(self, e["name"], _skip_check=True) for e in found}

    @property
    def models(self) -> dict:
        from .model import Model
        found = self._client.get("/models", params={"latest": "true"})["models"]
        return {m["name"]: Model._from_dict(self, m) for m in found}

    @property
    def webservices(self) -> dict:
        from .webservice import Webservice
        found = self._client.get("/deployments")["deployments"]
        return {d["name"]: Webservice._from_dict(self, d) for d in found}

    @property
    def environments(self) -> dict:
        from .environment import Environment
        return Environment.list(self)

    @property
    def compute_targets(self) -> dict:
        from .compute import ComputeTarget
        return {c.name: c for c in ComputeTarget.list(self)}

    def get_details(self) -> dict:
        return {"id": f"/subscriptions/{self.subscription_id}/resourceGroups/"
                      f"{self.resource_group}/providers/Microsoft.MachineLearningServices/"
                      f"workspaces/{self.name}",
                "name": self.name, "location": self.location, "amlocalUrl": self._client.url}

    def get_mlflow_tracking_uri(self) -> str:
        raise NotImplementedError("Workspace.get_mlflow_tracking_uri is not mirrored by amlocal: "
                                  "log with Run.log (or run.log in a script) instead")

    def __repr__(self) -> str:
        return (f"Workspace.create(name='{self.name}', subscription_id='{self.subscription_id}', "
                f"resource_group='{self.resource_group}')")
