"""azureml.core.Experiment: submit runs and sweeps, list them, start an interactive run."""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any, Iterator

from .._base import Mirrored, Printed
from ..exceptions import UserErrorException
from ._errors import azure_errors

EXPERIMENT_NAME = r"[a-zA-Z0-9][\w\-]{0,254}"
EXPERIMENT_NAME_ERROR = ("Experiment name must be between 1 and 255 characters long. Its first "
                         "character has to be alphanumeric, and the rest may contain hyphens and "
                         "underscores. No whitespace is allowed.")


class Experiment(Printed, Mirrored):
    """A named group of runs in the workspace."""

    _printed_as, _page_label = "Experiment", "Report Page"

    def __init__(self, workspace: Any, name: str, _skip_check: bool = False, **_kwargs: Any):
        if not _skip_check and not (isinstance(name, str) and re.fullmatch(EXPERIMENT_NAME, name)):
            raise UserErrorException(EXPERIMENT_NAME_ERROR)
        self.workspace, self.name = workspace, name

    @property
    def _client(self):
        return self.workspace._client

    def submit(self, config: Any, tags: dict | None = None, **kwargs: Any):
        """A ScriptRunConfig → a run; a HyperDriveConfig → a HyperDrive run."""
        submit = getattr(config, "_submit_to", None)
        if submit is None:
            raise NotImplementedError(
                f"Experiment.submit({type(config).__name__}) is not mirrored by amlocal: submit a "
                "ScriptRunConfig or a HyperDriveConfig")
        return submit(self, tags or {})

    def start_logging(self, *args: Any, outputs: Any = None, snapshot_directory: Any = None,
                      **kwargs: Any):
        """An interactive run: Running now, logged to from here, ended by run.complete()."""
        from .run import Run
        body = {"tags": kwargs.get("tags") or {}}
        if kwargs.get("display_name"):
            body["name"] = kwargs["display_name"]
        with azure_errors():
            found = self._client.post(f"/experiments/{self.name}/interactive-runs", json=body)
        return Run._from_dict(self, found)

    def get_runs(self, type: str | None = None, tags: Any = None, properties: Any = None,
                 include_children: bool = False) -> Iterator:
        """This experiment's runs, newest first (top-level unless include_children)."""
        from .run import Run
        params: dict[str, Any] = {"include_children": str(include_children).lower()}
        if isinstance(tags, str):
            params["tag"] = [tags]
        elif isinstance(tags, dict):
            params["tag"] = [f"{k}={v}" for k, v in tags.items()]
        with azure_errors():
            found = self._client.get(f"/experiments/{self.name}/runs", params=params)["runs"]
        for run in found:
            yield Run._from_dict(self, run)

    @staticmethod
    def list(workspace: Any, experiment_name: str | None = None, **_kwargs: Any) -> list:
        found = workspace.experiments
        return [e for name, e in found.items() if experiment_name in (None, name)]

    def get_portal_url(self) -> str:
        return f"{self._client.url}/experiments/{self.name}"

    def _get_base_info_dict(self) -> OrderedDict:
        return OrderedDict([("Name", self.name), ("Workspace", self.workspace.name)])

