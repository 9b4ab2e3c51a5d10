"""azureml.core.Run, from outside the script: status, logs, metrics, files, models, children."""
from __future__ import annotations

import io
import json
import os
import sys
import time
from collections import OrderedDict
from typing import Any, Iterator
from urllib.parse import quote

from ...client import LOG_POLL_S, RUN_TERMINAL, Client, ClientError, non_finite_floats
from .._base import Mirrored, Printed
from ..exceptions import (ActivityFailedException, ModelPathNotFoundException,
                          UserErrorException, WebserviceException)
from ._errors import azure_errors

METRIC_BATCH = 250  # rows per POST, the service's limit (Azure's too)
SCRIPT_RUN_TYPE = "azureml.scriptrun"
_NUMPY_PLAIN = {"bool_", "str_", "int8", "int16", "int32", "uint8", "uint16", "uint32",
                "float16", "float32", "float64"}


def metric_value(value: Any) -> Any:
    """Azure's metric typing: plain types kept, small NumPy scalars made plain, the rest repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    kind = type(value)
    if kind.__module__ == "numpy" and kind.__name__ in _NUMPY_PLAIN:
        return value.item()
    return repr(value)


class Run(Printed, Mirrored):
    """A run of the workspace: `Run(experiment, run_id)` fetches it."""

    _printed_as, _page_label = "Run", "Details Page"

    def __init__(self, experiment: Any, run_id: str, outputs: Any = None, **kwargs: Any):
        self.experiment = experiment
        self._id = run_id
        self._pending: list[dict] = []
        data = kwargs.get("_data")
        if data is None:
            with azure_errors():
                data = experiment._client.get(f"/runs/{run_id}")
        self._data = data

    _kinds: dict[str, type] = {}  # run kinds with their own class (hyperdrive registers "sweep")

    @classmethod
    def _from_dict(cls, experiment: Any, data: dict) -> "Run":
        kind = Run._kinds.get(data.get("kind"), cls) if cls is Run else cls
        return kind(experiment, data["id"], _data=data)

    @staticmethod
    def get_context(allow_offline: bool = True, used_for_context_manager: bool = False,
                    **kwargs: Any) -> "Run":
        raise NotImplementedError(
            "Run.get_context() in a notebook (Azure's offline run) is not mirrored by amlocal: "
            "use experiment.start_logging(); inside a script that amlocal runs, "
            "Run.get_context() is that run")

    # -- identity ---------------------------------------------------------------------------------
    @property
    def _client(self) -> Client:
        return self.experiment.workspace._client

    @property
    def id(self) -> str:
        return self._id

    @property
    def type(self) -> str | None:
        return {"script": SCRIPT_RUN_TYPE, "sweep": "hyperdrive"}.get(self._data.get("kind"))

    @property
    def name(self) -> str | None:
        return self._data.get("properties", {}).get("display_name") or self._id

    display_name = name

    @property
    def status(self) -> str:
        return self._data["status"]

    @property
    def parent(self) -> "Run | None":
        parent = self._data.get("parent_id")
        return Run(self.experiment, parent) if parent else None

    @property
    def tags(self) -> dict:
        return dict(self._data.get("tags") or {})

    @property
    def properties(self) -> dict:
        return dict(self._data.get("properties") or {})

    def _refresh(self) -> dict:
        with azure_errors():
            self._data = self._client.get(f"/runs/{self._id}")
        return self._data

    # -- status and details ----------------------------------------------------------------------
    def get_status(self) -> str:
        if self._data["status"] not in RUN_TERMINAL:
            self._refresh()
        return self._data["status"]

    def get_details(self) -> dict:
        data = self._refresh()
        details: dict[str, Any] = {
            "runId": self._id, "target": data.get("compute_target") or "local",
            "status": data["status"],
            "startTimeUtc": data.get("start_time"), "endTimeUtc": data.get("end_time"),
            "properties": data.get("properties") or {}, "inputDatasets": [], "outputDatasets": [],
            "runDefinition": {"script": data.get("script"), "arguments": data.get("arguments"),
                              "environment": data.get("environment"),
                              "target": data.get("compute_target") or "local"},
            "logFiles": {"user_logs/std_log.txt":
                         f"{self._client.url}/runs/{self._id}/logs"},
            "submittedBy": "amlocal"}
        if not details["endTimeUtc"]:
            del details["endTimeUtc"]
        if data.get("error"):
            details["error"] = {"error": {"code": "UserError",
                                          "message": data["error"].get("message", "")}}
        return details

    get_details_with_logs = get_details

    def get_portal_url(self) -> str:
        """The run's page on the amlocal dashboard."""
        return self._data.get("url") or self._client.portal_url(self._id)

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict:
        """Wait for the end; show_output streams the log as Azure prints it."""
        try:
            if show_output:
                self._client.wait_for_run(self._data, out=sys.stdout)
            else:
                while self._refresh()["status"] not in RUN_TERMINAL:
                    time.sleep(LOG_POLL_S)
        except ClientError as err:
            raise UserErrorException(err.message) from err
        details = self.get_details()
        if raise_on_error and details["status"] == "Failed":
            error = details.get("error") or {"error": {"message": "Detailed error not set on the "
                                                       "Run. Please check the logs for details."}}
            raise ActivityFailedException(error_details=json.dumps(error, indent=4))
        return details

    def cancel(self) -> None:
        with azure_errors():
            if self._data.get("kind") in ("child", "interactive"):
                self._client.post(f"/runs/{self._id}/status", json={"status": "Canceled"})
            else:
                self._client.post(f"/runs/{self._id}/cancel")
        self._refresh()

    def complete(self, _set_status: bool = True) -> None:
        self.flush()
        self._end("Completed")

    def fail(self, error_details: Any = None, error_code: str | None = None,
             _set_status: bool = True) -> None:
        self.flush()
        message = str(error_details) if error_details else None
        self._end("Failed", message)

    def _end(self, status: str, message: str | None = None) -> None:
        body = {"status": status, **({"message": message} if message else {})}
        with azure_errors():
            self._data = self._client.post(f"/runs/{self._id}/status", json=body)

    # -- metrics -----------------------------------------------------------------------------------
    def _queue(self, name: str, kind: str, value: Any, description: str = "",
               step: int | None = None) -> None:
        entry = {"name": name, "kind": kind, "value": value}
        if description:
            entry["description"] = description
        if step is not None:
            entry["step"] = step
        self._pending.append(entry)
        if len(self._pending) >= METRIC_BATCH:
            self.flush()

    def flush(self, timeout_seconds: int = 300) -> None:
        """Send the metrics logged so far (they go in batches, as Azure's client sends them)."""
        while self._pending:
            batch, self._pending = self._pending[:METRIC_BATCH], self._pending[METRIC_BATCH:]
            with azure_errors():
                self._client.post(f"/runs/{self._id}/metrics", json={"metrics": batch})

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        if isinstance(value, (list, tuple, range)) or hasattr(value, "__next__"):
            raise UserErrorException("run.log does not support list type. Use run.log_list "
                                     "instead")
        self._queue(name, "scalar", metric_value(value), description, step)

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        self._queue(name, "list", [metric_value(v) for v in value], description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        self._queue(name, "row", {k: metric_value(v) for k, v in kwargs.items()},
                    description or "")

    def log_table(self, name: str, value: dict, description: str = "") -> None:
        self._queue(name, "table", {k: [metric_value(v) for v in col] for k, col in value.items()},
                    description)

    def log_image(self, name: str, path: str | None = None, plot: Any = None,
                  description: str = "") -> None:
        """The image becomes one of the run's files; the metric holds its location."""
        if (path is None) == (plot is None):
            raise UserErrorException("Invalid parameters, path and plot were both provided, "
                                     "only one at a time is supported.")
        if plot is not None:
            buffer = io.BytesIO()
            plot.savefig(buffer, format="png")
            data, suffix = buffer.getvalue(), ".png"
        else:
            with open(path, "rb") as fh:
                data, suffix = fh.read(), os.path.splitext(path)[1] or ".png"
        artifact = f"{name}{suffix}"
        self._upload(artifact, data)
        self._queue(name, "image", f"aml://artifactId/ExperimentRun/dcid.{self._id}/{artifact}",
                    description)

    def get_metrics(self, name: str | None = None, recursive: bool = False,
                    run_type: str | None = None, populate: bool = False) -> dict:
        """{name: value | [values] | {column: [values]}}; recursive: {run_id: {...}}."""
        self.flush()
        with azure_errors():
            found = non_finite_floats(self._client.get(f"/runs/{self._id}/metrics")["metrics"])
        if name is not None:
            found = {name: found[name]} if name in found else {}
        if not recursive:
            return found
        result = {self._id: found}
        for child in self.get_children(recursive=True):
            result[child.id] = child.get_metrics(name)
        return result

    # -- tags and properties -----------------------------------------------------------------------
    def tag(self, key: str, value: Any = None) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: dict) -> None:
        add = {k: None if v is None else str(v) for k, v in tags.items()}
        with azure_errors():
            self._data = self._client.request("PATCH", f"/runs/{self._id}/tags",
                                              json={"add": add}).json()

    def remove_tags(self, tags: list) -> None:
        with azure_errors():
            self._data = self._client.request("PATCH", f"/runs/{self._id}/tags",
                                              json={"remove": list(tags)}).json()

    def get_tags(self) -> dict:
        return self._refresh().get("tags") or {}

    def add_properties(self, properties: dict) -> None:
        if not properties:
            return
        with azure_errors():
            self._data = self._client.request("PATCH", f"/runs/{self._id}/properties",
                                              json={"add": {k: str(v) for k, v in
                                                            properties.items()}}).json()

    def get_properties(self) -> dict:
        return self._refresh().get("properties") or {}

    # -- files ------------------------------------------------------------------------------------
    def _upload(self, name: str, data: Any) -> dict:
        with azure_errors():
            return self._client.request("PUT", f"/runs/{self._id}/files/{quote(name)}",
                                        data=data).json()

    def upload_file(self, name: str, path_or_stream: Any, datastore_name: str | None = None):
        if isinstance(path_or_stream, (str, os.PathLike)):
            with open(path_or_stream, "rb") as fh:
                return self._upload(name, fh)
        return self._upload(name, path_or_stream)

    def upload_files(self, names: list, paths: list, return_artifacts: bool = False,
                     timeout_seconds: int | None = None, datastore_name: str | None = None):
        if len(names) != len(paths):
            raise TypeError("names and paths must be lists of equal lengths. "
                            f"names has length {len(names)}, paths has length {len(paths)}")
        return [self.upload_file(n, p) for n, p in zip(names, paths)]

    def upload_folder(self, name: str, path: str, datastore_name: str | None = None):
        for root, _dirs, files in os.walk(path):
            for file in sorted(files):
                full = os.path.join(root, file)
                self.upload_file(f"{name.rstrip('/')}/{os.path.relpath(full, path)}", full)

    def get_file_names(self) -> list[str]:
        with azure_errors():
            return [f["path"] for f in self._client.get(f"/runs/{self._id}/files")["files"]]

    def download_file(self, name: str, output_file_path: str | None = None,
                      _validate_checksum: bool = False) -> None:
        target = output_file_path or os.path.basename(name)
        if os.path.isdir(target):
            target = os.path.join(target, os.path.basename(name))
        with azure_errors():
            resp = self._client.request("GET", f"/runs/{self._id}/files/{quote(name)}",
                                        stream=True)
        with open(target, "wb") as out:
            for chunk in resp.iter_content(chunk_size=1024 * 1024):
                out.write(chunk)

    def download_files(self, prefix: str | None = None, output_directory: str | None = None,
                       output_paths: Any = None, batch_size: int = 100,
                       append_prefix: bool = True, timeout_seconds: int | None = None) -> None:
        root = output_directory or "."
        for name in self.get_file_names():
            if prefix and not name.startswith(prefix):
                continue
            rel = name if append_prefix or not prefix else name[len(prefix):].lstrip("/")
            os.makedirs(os.path.dirname(os.path.join(root, rel)) or root, exist_ok=True)
            self.download_file(name, os.path.join(root, rel))

    # -- children ---------------------------------------------------------------------------------
    def get_children(self, recursive: bool = False, tags: Any = None, properties: Any = None,
                     type: str | None = None, status: str | None = None,
                     _rehydrate_runs: bool = True) -> Iterator["Run"]:
        with azure_errors():
            rows = self._client.get(f"/runs/{self._id}/children")["children"]
        for row in rows:
            child = Run(self.experiment, row["run_id"])
            if status is None or child.status == status:
                yield child
            if recursive:
                yield from child.get_children(recursive=True, status=status)

    def child_run(self, name: str | None = None, run_id: str | None = None,
                  outputs: Any = None) -> "Run":
        body = {k: v for k, v in (("name", name), ("run_id", run_id)) if v}
        with azure_errors():
            found = self._client.post(f"/runs/{self._id}/children", json=body)
        return Run(self.experiment, found["id"], _data=found)

    # -- models -----------------------------------------------------------------------------------
    def register_model(self, model_name: str, model_path: str | None = None,
                       tags: dict | None = None, properties: dict | None = None,
                       model_framework: str | None = None,
                       model_framework_version: str | None = None, description: str | None = None,
                       datasets: Any = None, sample_input_dataset: Any = None,
                       sample_output_dataset: Any = None, resource_configuration: Any = None,
                       **kwargs: Any):
        """Register the run's file or folder `model_path` (default: `model_name`)."""
        from .model import Model, check_registration
        check_registration(model_name, tags, properties, model_framework, model_framework_version)
        path = (model_path or model_name).replace("\\", "/")
        names = self.get_file_names()
        if not any(n == path or n.startswith(path.rstrip("/") + "/") for n in names):
            raise ModelPathNotFoundException(
                f"Could not locate the provided model_path {path} in the set of files uploaded "
                f"to the run: {names}\n See https://aka.ms/run-logging for more details.")
        fields = {"tags": tags, "properties": properties, "description": description,
                  "framework_version": model_framework_version,
                  "resource_configuration": resource_configuration._body()
                  if resource_configuration is not None else None}
        with azure_errors(WebserviceException):
            found = self._client.register_from_run(self._id, model_name, path,
                                                   framework=model_framework, **fields)
        return Model._from_dict(self.experiment.workspace, found)

    # -- printing ---------------------------------------------------------------------------------
    def _get_base_info_dict(self) -> OrderedDict:
        return OrderedDict([("Experiment", self.experiment.name), ("Id", self._id),
                            ("Type", self.type), ("Status", self._data["status"])])

