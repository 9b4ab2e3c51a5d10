"""The run object a training script gets from `Run.get_context()` under amlocal.

Standard library only, loaded by path by `bootstrap.py` in any interpreter. It has azureml-core's
`Run` surface for what a script does to its own run: metrics (value rules of azureml-core's
`_metrics.py`), tags, properties, files, child runs, status, registering a model.

Where its records go is the run's *channel*:
- a local run (the agent's) appends one JSON line per call to `.amlocal/events.jsonl` in its run
  folder, flushed at once, and keeps files in that folder; the executor folds the lines into the
  run's record while the script runs;
- a child run, or a run on a remote compute (`AMLOCAL_RUN_CHANNEL=http`), sends every call to
  the control API with the run's token (`runapi.py`, the routes of service/api/run_tracking.py).
Both give the script the same answers; what needs the control plane (child runs, registering a
model, reading another run) always goes over HTTP with the run token, never the admin token.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

# numpy scalar types azureml-core converts to Python types; every other type is stored as repr().
_NUMPY_CONVERT = {"bool_": bool, "bool": bool, "str_": str, "int8": int, "int16": int, "int32": int,
                  "uint8": int, "uint16": int, "uint32": int, "float16": float, "float32": float,
                  "float64": float}
_PLAIN = (bool, int, float, str, type(None))
MAX_ERROR_CHARS = 3000
MAX_CHILDREN = 100
TERMINAL = ("Completed", "Failed", "Canceled")
RUN_TYPE = "azureml.scriptrun"
HIDDEN = (".amlocal", "wd")
# Model.register's keyword arguments that need Azure's datasets, which amlocal does not have.
DATASET_ARGUMENTS = ("datasets", "sample_input_dataset", "sample_output_dataset")


class AzureMLException(Exception):
    """Mirrors azureml.exceptions.AzureMLException, the base of Azure ML's errors."""


class UserErrorException(AzureMLException):
    """Mirrors azureml.exceptions.UserErrorException for misuse of the run API."""


class ModelPathNotFoundException(AzureMLException):
    """Mirrors azureml.exceptions.ModelPathNotFoundException (register_model's missing path)."""


# Tracebacks name them as Azure ML's own rather than after the private module they load as.
for _error in (AzureMLException, UserErrorException, ModelPathNotFoundException):
    _error.__module__ = "azureml.exceptions"


def use_exceptions(module: Any) -> None:
    """Raise the real azureml-core's exception classes (from `azureml.exceptions`) where the
    run's environment has them, so that scripts catching them catch ours."""
    for name in ("AzureMLException", "UserErrorException", "ModelPathNotFoundException"):
        if isinstance(getattr(module, name, None), type):
            globals()[name] = getattr(module, name)


def convert_value(value: Any) -> Any:
    """A metric value as azureml-core stores it (numpy scalars converted, anything else repr)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind.__module__ == "numpy" and kind.__name__ in _NUMPY_CONVERT:
        return _NUMPY_CONVERT[kind.__name__](value)
    return repr(value)


def _is_sequence(value: Any) -> bool:
    """Lists, ranges and generators: what run.log refuses."""
    import types
    return isinstance(value, (list, range, types.GeneratorType))


def clean_name(name: str) -> str:
    """An artifact name as a relative posix path inside the run, refusing escapes."""
    parts = [p for p in str(name).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or parts[0] in HIDDEN:
        raise UserErrorException(f"invalid artifact name {name!r}")
    return "/".join(parts)


def image_location(run_id: str, name: str) -> str:
    """What get_metrics() shows for a log_image metric (Azure's artifact URI)."""
    return f"aml://artifactId/ExperimentRun/dcid.{run_id}/{name}"


class _Workspace:
    """`run.experiment.workspace`: the amlocal workspace the run belongs to."""

    name = "amlocal"
    subscription_id = ""
    resource_group = ""
    location = "local"

    def __init__(self, service_endpoint: str | None):
        self.service_endpoint = service_endpoint

    def __repr__(self) -> str:
        return (f"Workspace.create(name='{self.name}', subscription_id='{self.subscription_id}', "
                f"resource_group='{self.resource_group}')")


class _Experiment:
    """`run.experiment`: its name and workspace."""

    def __init__(self, name: str, workspace: _Workspace):
        self.name, self.workspace = name, workspace

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name},\nWorkspace: {self.workspace.name})"


class RegisteredModel:
    """What run.register_model returns: the version's identity, as azureml's Model prints it."""

    def __init__(self, record: dict[str, Any], workspace: _Workspace):
        self.workspace = workspace
        self.name, self.version = record["name"], record["version"]
        self.id = record.get("id") or f"{self.name}:{self.version}"
        self.tags, self.properties = record.get("tags") or {}, record.get("properties") or {}
        self.description = record.get("description")
        self.model_framework = record.get("framework")
        self.model_framework_version = record.get("framework_version")
        self.run_id, self.experiment_name = record.get("run_id"), record.get("experiment")
        self.url = f"aml://asset/{self.id}"

    def __repr__(self) -> str:
        return (f"Model(workspace={self.workspace!r}, name={self.name}, id={self.id}, "
                f"version={self.version}, tags={self.tags}, properties={self.properties})")


# -- channels: where a run's records go ---------------------------------------------------------

class EventWriter:
    """Appends events as JSON lines, one flushed write each, safe across the script's threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, event: dict[str, Any]) -> dict[str, Any]:
        """Stamp and append one event; return it."""
        event = dict(event, ts=time.time())
        line = json.dumps(event, default=repr) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
        return event


class FileChannel:
    """A local run: events appended to its events file, files kept in its run folder."""

    def __init__(self, run_dir: Path, writer: EventWriter | None = None):
        self.run_dir = Path(run_dir)
        self.writer = writer or EventWriter(self.run_dir / ".amlocal" / "events.jsonl")

    def record(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.writer.write(event)

    def put_file(self, name: str, stream: Any) -> int:
        target = self.run_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            shutil.copyfileobj(stream, handle)
        size = target.stat().st_size
        self.record({"type": "file", "name": name, "size": size})
        return size

    def file_names(self) -> list[str]:
        names = []
        for file in self.run_dir.rglob("*"):
            rel = file.relative_to(self.run_dir).as_posix()
            if file.is_file() and not rel.startswith(tuple(h + "/" for h in HIDDEN)):
                names.append(rel)
        return sorted(names)

    def read_file(self, name: str) -> bytes:
        return (self.run_dir / clean_name(name)).read_bytes()


class HttpChannel:
    """A child run or a remote run: every call goes to the control API with the run token."""

    def __init__(self, api: Any, run_id: str):
        self.api, self.run_id = api, run_id

    def record(self, event: dict[str, Any]) -> dict[str, Any]:
        kind, run_id = event["type"], self.run_id
        if kind == "metric":
            self.api.log(event["name"], event["value"], kind=event["kind"], step=event["step"],
                         run_id=run_id, description=event.get("description") or "")
        elif kind == "tags":
            self.api.set_tags(event["tags"], run_id=run_id, remove=event.get("removed", []))
        elif kind == "properties":
            self.api.add_properties(event["properties"], run_id=run_id)
        elif kind == "status":
            error = event.get("error") or {}
            self.api.set_status(event["status"], message=error.get("message"), run_id=run_id,
                                code=error.get("code"))
        return event

    def put_file(self, name: str, stream: Any) -> int:
        return self.api.upload_file(name, stream.read(), run_id=self.run_id)["size"]

    def file_names(self) -> list[str]:
        return [f["path"] for f in self.api.list_files(run_id=self.run_id)]

    def read_file(self, name: str) -> bytes:
        return self.api.download(clean_name(name), run_id=self.run_id)


# -- the run ------------------------------------------------------------------------------------

class AmlocalRun:
    """A run bound to one amlocal run; azureml.core.Run's surface for what a script does."""

    def __init__(self, run_id: str, experiment_name: str, run_dir: Path | None,
                 fold: Callable[[Iterable[dict]], dict], writer: EventWriter | None = None,
                 api: Any = None, parent_id: str | None = None, channel: Any = None,
                 outputs: str | None = None):
        self._id = run_id
        self._api = api
        self.experiment = _Experiment(experiment_name,
                                      _Workspace(getattr(api, "endpoint", None)))
        self._channel = channel or FileChannel(Path(run_dir), writer)  # type: ignore[arg-type]
        self._fold = fold
        self._parent_id = parent_id
        self._outputs = outputs
        self._metrics: list[dict[str, Any]] = []
        self._families: dict[str, str] = {}
        self._tags: dict[str, Any] = {}
        self._properties: dict[str, Any] = {}
        self._status = "Running"

    @classmethod
    def get_context(cls, allow_offline: bool = True, used_for_context_manager: bool = False,
                    **kwargs: Any) -> "AmlocalRun":
        """The current run (set by bootstrap); mirrors Run.get_context's signature."""
        current = globals().get("_CURRENT")
        if current is None:
            raise UserErrorException("no amlocal run is bound to this process")
        return current

    # -- identity ---------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The run id."""
        return self._id

    @property
    def name(self) -> str:
        """The run's display name (its id unless a child was named)."""
        return self._properties.get("display_name", self._id)

    display_name = name

    @property
    def type(self) -> str:
        """The run type Azure prints."""
        return RUN_TYPE

    @property
    def tags(self) -> dict[str, Any]:
        """A copy of the run's tags."""
        return dict(self._tags)

    @property
    def properties(self) -> dict[str, Any]:
        """A copy of the run's properties."""
        return dict(self._properties)

    @property
    def status(self) -> str:
        """The run's status as this process last knew it."""
        return self._status

    @property
    def input_datasets(self) -> dict[str, Any]:
        """Azure's named input datasets: amlocal has none."""
        return {}

    @property
    def parent(self) -> "AmlocalRun | None":
        """The parent run (None for a top-level run)."""
        if self._parent_id is None:
            return None
        record = self._require_api("run.parent").get_run(self._parent_id)
        return self._from_record(record)

    def __repr__(self) -> str:
        return (f"Run(Experiment: {self.experiment.name},\nId: {self._id},\nType: {self.type},\n"
                f"Status: {self._status})")

    # -- metrics ----------------------------------------------------------------------------
    def _metric(self, name: str, kind: str, value: Any, description: str | None,
                step: int | None = None) -> None:
        """Record one metric event, refusing a name already used by the other family."""
        if not isinstance(name, str) or not name:
            raise UserErrorException("metric name must be a non-empty string")
        family = "table" if kind in ("row", "table") else "scalar"
        if self._families.setdefault(name, family) != family:
            raise UserErrorException(f"metric {name!r} was logged as a {self._families[name]} "
                                     f"metric and cannot be logged as {kind}")
        event = {"type": "metric", "name": name, "kind": kind, "value": value, "step": step,
                 "description": description or ""}
        self._metrics.append(self._channel.record(event))

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log a scalar; lists are refused with Azure ML's message."""
        if _is_sequence(value):
            raise UserErrorException("run.log does not support list type. Use run.log_list instead")
        self._metric(name, "scalar", convert_value(value), description, step)

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        """Log a list of scalars."""
        values = [convert_value(item) for item in value]
        self._metric(name, "list", values, description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Log one row of a table metric."""
        for column, cell in kwargs.items():
            if isinstance(cell, (list, tuple)):
                raise UserErrorException(f"log_row column {column!r} must be a scalar, not a list")
        self._metric(name, "row", {k: convert_value(v) for k, v in kwargs.items()}, description)

    def log_table(self, name: str, value: dict[str, Any], description: str = "") -> None:
        """Log a table given as {column: [values]} with equal-length columns."""
        if not isinstance(value, dict):
            raise UserErrorException("log_table value must be a dict of columns")
        columns = {k: [convert_value(v) for v in (col if isinstance(col, list) else [col])]
                   for k, col in value.items()}
        lengths = {len(col) for col in columns.values()}
        if len(lengths) > 1:
            raise UserErrorException(f"log_table columns must have the same length, got {lengths}")
        self._metric(name, "table", columns, description)

    def log_image(self, name: str, path: str | None = None, plot: Any = None,
                  description: str = "") -> None:
        """Keep an image (a file, or a matplotlib figure/pyplot) as the run file `<name>.png`
        and list it in get_metrics() as Azure does (its artifact URI)."""
        if (path is None) == (plot is None):
            raise UserErrorException("log_image needs exactly one of path or plot")
        if plot is None:
            file_name = name + (Path(path).suffix or ".png")  # type: ignore[arg-type]
            self.upload_file(file_name, path)
        else:
            buffer = io.BytesIO()
            plot.savefig(buffer, format="png")
            buffer.seek(0)
            file_name = f"{name}.png"
            self.upload_file(file_name, buffer)
        self._metric(name, "image", image_location(self._id, clean_name(file_name)), description)

    def _log_json_artifact(self, schema: str, version: str, name: str, value: Any) -> None:
        """Azure keeps these metrics as JSON artifacts; so do we, as `<name>.json`."""
        data = value if isinstance(value, (dict, list)) else json.loads(value)
        body = json.dumps({"schema_type": schema, "schema_version": version, "data": data},
                          default=repr).encode()
        self.upload_file(f"{name}.json", io.BytesIO(body))

    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        """Keep a confusion matrix as a JSON run file."""
        self._log_json_artifact("confusion_matrix", "1.0.0", name, value)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        """Keep an accuracy table as a JSON run file."""
        self._log_json_artifact("accuracy_table", "1.0.1", name, value)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        """Keep residuals as a JSON run file."""
        self._log_json_artifact("residuals", "1.0.0", name, value)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        """Keep predictions as a JSON run file."""
        self._log_json_artifact("predictions", "1.0.0", name, value)

    def get_metrics(self, name: str | None = None, recursive: bool = False,
                    run_type: str | None = None, populate: bool = False) -> dict[str, Any]:
        """This run's metrics in Azure ML's shapes (optionally only `name`); with `recursive`,
        `{run_id: metrics}` for this run and every run below it."""
        if self is _CURRENT or self._api is None:
            folded = self._fold(self._metrics)
        else:  # another run of the tree: what the service has recorded
            folded = self._api.get_metrics(run_id=self._id)
        if name is not None:
            folded = {name: folded[name]} if name in folded else {}
        if not recursive:
            return folded
        result = {self._id: folded}
        if self._api is not None:
            for child in self.get_children(recursive=True, type=run_type):
                result[child.id] = child.get_metrics(name=name)
        return result

    # -- tags and properties ----------------------------------------------------------------
    def tag(self, key: str, value: Any = None) -> None:
        """Set one tag."""
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Merge tags into the run's tags."""
        if not isinstance(tags, dict):
            raise UserErrorException("set_tags expects a dict")
        clean = {str(k): (None if v is None else str(v)) for k, v in tags.items()}
        self._tags.update(clean)
        self._channel.record({"type": "tags", "tags": clean})

    def get_tags(self) -> dict[str, Any]:
        """The run's tags."""
        return dict(self._tags)

    def remove_tags(self, tags: Iterable[str]) -> None:
        """Remove tags by key."""
        keys = [str(key) for key in tags]
        for key in keys:
            self._tags.pop(key, None)
        self._channel.record({"type": "tags", "tags": {}, "removed": keys})

    def add_properties(self, properties: dict[str, Any]) -> None:
        """Add properties; an existing key with a different value is refused (add-only)."""
        if not properties:
            return
        clean = {str(k): str(v) for k, v in properties.items()}
        for key, value in clean.items():
            if key in self._properties and self._properties[key] != value:
                raise UserErrorException(f"property {key!r} is already set; properties are "
                                         "immutable once added")
        self._properties.update(clean)
        self._channel.record({"type": "properties", "properties": clean})

    def get_properties(self) -> dict[str, Any]:
        """The run's properties."""
        return dict(self._properties)

    # -- files ------------------------------------------------------------------------------
    def upload_file(self, name: str, path_or_stream: Any, datastore_name: str | None = None) -> None:
        """Copy a file (path or binary stream) into the run's files as `name`."""
        clean = clean_name(name)
        if hasattr(path_or_stream, "read"):
            self._channel.put_file(clean, path_or_stream)
            return
        with open(path_or_stream, "rb") as handle:
            self._channel.put_file(clean, handle)

    def upload_files(self, names: list[str], paths: list[str], return_artifacts: bool = False,
                     timeout_seconds: int | None = None, datastore_name: str | None = None) -> None:
        """Upload several files; names and paths pair up."""
        if len(names) != len(paths):
            raise TypeError("names and paths must be lists of equal lengths. "
                            f"Got {len(names)} names and {len(paths)} paths")
        for name, path in zip(names, paths):
            self.upload_file(name, path)

    def upload_folder(self, name: str, path: str, datastore_name: str | None = None) -> None:
        """Upload every file under `path` as `name/<relative path>`."""
        root = Path(path)
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            self.upload_file(f"{name.rstrip('/')}/{file.relative_to(root).as_posix()}", file)

    def get_file_names(self) -> list[str]:
        """The run's files so far (a local run's outputs/ are added when it ends, as in Azure)."""
        return self._channel.file_names()

    def download_file(self, name: str, output_file_path: str | None = None,
                      _validate_checksum: bool = False) -> None:
        """Write the run's file `name` to `output_file_path` (default: its base name here); a
        folder as target keeps the base name."""
        if name not in self.get_file_names():
            raise UserErrorException(f"File with path {name} was not found,\n"
                                     f"available files include: {', '.join(self.get_file_names())}.")
        target = Path(output_file_path or Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self._channel.read_file(name))

    def download_files(self, prefix: str | None = None, output_directory: str | None = None,
                       output_paths: list[str] | None = None, batch_size: int = 100,
                       append_prefix: bool = True, timeout_seconds: int | None = None) -> None:
        """Download the run's files under `prefix` (all by default) into `output_directory`."""
        names = [n for n in self.get_file_names() if not prefix or n.startswith(prefix)]
        if output_paths is not None and len(output_paths) != len(names):
            raise UserErrorException("output_paths must have one path per downloaded file")
        base = Path(output_directory or ".")
        for i, name in enumerate(names):
            relative = name if append_prefix or not prefix else name[len(prefix):].lstrip("/")
            self.download_file(name, output_paths[i] if output_paths else str(base / relative))

    # -- child runs -------------------------------------------------------------------------
    def child_run(self, name: str | None = None, run_id: str | None = None,
                  outputs: str | None = None) -> "AmlocalRun":
        """A child run, created and Running at once (also a context manager). With `outputs`,
        that folder's files are uploaded to the child when it completes."""
        record = self._require_api("run.child_run").create_child(name=name, child_id=run_id,
                                                                 run_id=self._id)
        return self._from_record(record, outputs=outputs)

    def create_children(self, count: int | None = None, tag_key: str | None = None,
                        tag_values: list[str] | None = None) -> list["AmlocalRun"]:
        """Several child runs at once: `count` of them, or one per value of `tag_key`."""
        if tag_key is None and tag_values is None and count is None:
            raise UserErrorException("Either count or tag_key and tag_values must be set")
        if tag_key is not None or tag_values is not None:
            if tag_key is None:
                raise UserErrorException("tag_key must not be null when tag_values is set")
            if tag_values is None:
                raise UserErrorException("tag_values must not be null when tag_key is set")
            if count is not None:
                raise UserErrorException("count can not be set when tag_key and tag_values are set")
        if count is not None:
            tag_key, tag_values = "azureml.batch_child_number", list(range(count))
        if len(tag_values) > MAX_CHILDREN:  # type: ignore[arg-type]
            raise UserErrorException("create_children can not create more than 100 runs")
        api = self._require_api("run.create_children")
        return [self._from_record(api.create_child(run_id=self._id, tags={tag_key: str(value)}))
                for value in tag_values]  # type: ignore[union-attr]

    def get_children(self, recursive: bool = False, tags: Any = None, properties: Any = None,
                     type: str | None = None, status: str | None = None,
                     _rehydrate_runs: bool = True) -> list["AmlocalRun"]:
        """This run's children (and theirs, with `recursive`), filtered like Azure's."""
        api = self._require_api("run.get_children")
        found, pending = [], [self._id]
        while pending:
            for row in api.list_children(run_id=pending.pop(0), runs=True):
                found.append(row["run"])
                if recursive:
                    pending.append(row["run_id"])
        kept = [r for r in found if _matches(r.get("tags") or {}, tags)
                and _matches(r.get("properties") or {}, properties)
                and (status is None or r.get("status") == status)
                and (type is None or _run_type(r) == type)]
        return [self._from_record(r) for r in kept]

    def _from_record(self, record: dict[str, Any], outputs: str | None = None) -> "AmlocalRun":
        """Another run of this run's tree, as a run object talking to the API."""
        run = AmlocalRun(record["id"], record.get("experiment") or self.experiment.name, None,
                         self._fold, api=self._api, parent_id=record.get("parent_id"),
                         channel=HttpChannel(self._api, record["id"]), outputs=outputs)
        run._tags = dict(record.get("tags") or {})
        run._properties = dict(record.get("properties") or {})
        run._status = record.get("status") or "Running"
        return run

    # -- status -----------------------------------------------------------------------------
    def get_status(self) -> str:
        """The run's status (asked of the service for any run but the script's own)."""
        if self._api is not None and self is not _CURRENT and self._status not in TERMINAL:
            self._status = self._api.get_run(self._id)["status"]
        return self._status

    def get_detailed_status(self) -> dict[str, Any]:
        """{"status", "details"} as Azure returns it (amlocal has no queueing message)."""
        return {"status": self.get_status(), "details": None}

    def get_details(self) -> dict[str, Any]:
        """The run's definition and status in Azure's get_details() keys."""
        record = self._require_api("run.get_details").get_run(self._id)
        details = {"runId": record["id"], "target": "local", "status": record["status"],
                   "startTimeUtc": record.get("start_time"),
                   "properties": record.get("properties") or {}, "inputDatasets": [],
                   "outputDatasets": [],
                   "runDefinition": {"script": record.get("script"),
                                     "arguments": record.get("arguments") or [],
                                     "environment": record.get("environment")},
                   "logFiles": {}, "submittedBy": "amlocal"}
        if record.get("end_time"):
            details["endTimeUtc"] = record["end_time"]
        if record.get("error"):
            details["error"] = {"error": {"message": record["error"].get("message"),
                                          "code": record["error"].get("code", "UserError")}}
        return details

    def _set_status(self, status: str, error: dict[str, Any] | None = None) -> None:
        """Record a final status the script asked for."""
        self._status = status
        self._channel.record({"type": "status", "status": status, "error": error})

    def start(self) -> None:
        """Runs start Running under amlocal: nothing to do."""

    def complete(self, _set_status: bool = True) -> None:
        """Mark the run Completed (a script's own run still has to exit with 0)."""
        if self._outputs and os.path.isdir(self._outputs):
            self.upload_folder("outputs", self._outputs)
        self._set_status("Completed")

    def fail(self, error_details: Any = None, error_code: str | None = None,
             _set_status: bool = True) -> None:
        """Mark the run Failed with a message (error code defaults to UserError)."""
        message = str(error_details) if error_details is not None else "Run failed"
        self._set_status("Failed", {"message": message[:MAX_ERROR_CHARS],
                                    "code": error_code or "UserError"})

    def cancel(self) -> None:
        """Cancel the run; for the script's own run the executor then stops the process."""
        self._set_status("Canceled")

    def flush(self, timeout_seconds: int = 300) -> None:
        """Nothing to flush: every call is recorded when it happens."""

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict[str, Any]:
        """Wait for another run of the tree to end (the script's own run cannot)."""
        if self is _CURRENT:
            raise UserErrorException("A run cannot wait for its own completion.")
        while self.get_status() not in TERMINAL:
            time.sleep(0.5)
        return self.get_details()

    def __enter__(self) -> "AmlocalRun":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            self.complete()
        else:
            self.fail(error_details=f"{exc_type.__name__}: {exc}")

    # -- models -----------------------------------------------------------------------------
    def register_model(self, model_name: str, model_path: str | None = None,
                       tags: dict | None = None, properties: dict | None = None,
                       model_framework: str | None = None,
                       model_framework_version: str | None = None,
                       description: str | None = None, datasets: Any = None,
                       sample_input_dataset: Any = None, sample_output_dataset: Any = None,
                       resource_configuration: Any = None, **kwargs: Any) -> RegisteredModel:
        """Register a model version from this run's files (Azure's run.register_model). A path
        under outputs/ that the script wrote but that is not kept yet is uploaded first."""
        given = {"datasets": datasets, "sample_input_dataset": sample_input_dataset,
                 "sample_output_dataset": sample_output_dataset}
        refused = [k for k, v in given.items() if v is not None] + sorted(kwargs)
        if refused:
            raise UserErrorException(
                f"register_model: {', '.join(refused)} not supported by amlocal (it has no Azure "
                "datasets); register the files and give a sample input with `amlocal model "
                "register --sample-input`.")
        if model_framework_version is not None and model_framework is None:
            raise UserErrorException("Model framework version cannot be provided without a "
                                     "valid framework")
        api = self._require_api("run.register_model")
        path = (model_path or model_name).replace("\\", "/")
        self._keep_local_outputs(path)
        body = {"framework": model_framework, "framework_version": model_framework_version,
                "resource_configuration": _resource_configuration(resource_configuration),
                "tags": {str(k): str(v) for k, v in (tags or {}).items()},
                "properties": {str(k): str(v) for k, v in (properties or {}).items()},
                "description": description}
        try:
            record = api.register_model(model_name, path, run_id=self._id,
                                        **{k: v for k, v in body.items() if v is not None})
        except Exception as err:  # RunApiError: the service's own message
            message = str(getattr(err, "message", err))
            if "Could not locate the provided model_path" in message:
                raise ModelPathNotFoundException(message) from None
            raise UserErrorException(message) from None
        return RegisteredModel(record, self.experiment.workspace)

    def _keep_local_outputs(self, path: str) -> None:
        """Upload the script's own outputs/ files under `path` that the run does not have yet."""
        if self is not _CURRENT or not path.startswith("outputs"):
            return
        local = Path(path)
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        have = set(self.get_file_names())
        for file in files:
            name = file.as_posix()
            if name not in have:
                self.upload_file(name, str(file))

    # -- what needs Azure ------------------------------------------------------------------------
    def get_secret(self, name: str) -> str:
        """Azure's key vault: amlocal has none."""
        raise UserErrorException("run.get_secret: amlocal has no key vault; pass secrets to the "
                                 "run as environment variables of its environment.")

    def get_secrets(self, secrets: list[str]) -> dict[str, str]:
        """Azure's key vault: amlocal has none."""
        return {name: self.get_secret(name) for name in secrets}

    def get_portal_url(self) -> str:
        """The run's page on the amlocal service."""
        return f"{self.experiment.workspace.service_endpoint or ''}/ui/runs/{self._id}"

    def _require_api(self, what: str) -> Any:
        if self._api is None:
            raise UserErrorException(f"{what} needs the amlocal service: this process has no run "
                                     "token (AZUREML_RUN_TOKEN).")
        return self._api


def _matches(have: dict[str, Any], wanted: Any) -> bool:
    """Azure's tags/properties filter: a key, or {key: value} pairs."""
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return wanted in have
    return all(have.get(k) == v for k, v in wanted.items())


def _run_type(record: dict[str, Any]) -> str:
    return {"sweep": "hyperdrive"}.get(record.get("kind", ""), RUN_TYPE)


def _resource_configuration(value: Any) -> dict[str, Any] | None:
    """A ResourceConfiguration (or a dict) as the API takes it."""
    if value is None or isinstance(value, dict):
        return value
    return {key: getattr(value, key) for key in ("cpu", "memory_in_gb", "gpu")
            if getattr(value, key, None) is not None}


_CURRENT: AmlocalRun | None = None


def bind(run: AmlocalRun) -> AmlocalRun:
    """Make `run` what get_context() returns in this process."""
    global _CURRENT
    _CURRENT = run
    return run


def from_environment(fold: Callable[[Iterable[dict]], dict],
                     environ: dict[str, str] | None = None,
                     api_class: Any = None) -> AmlocalRun:
    """The run built from the variables the agent sets: AZUREML_RUN_ID, the experiment, and
    AMLOCAL_RUN_DIR (a local run) or AMLOCAL_RUN_CHANNEL=http (a remote one); with
    AZUREML_SERVICE_ENDPOINT and AZUREML_RUN_TOKEN it can reach the control API."""
    env = os.environ if environ is None else environ
    http = env.get("AMLOCAL_RUN_CHANNEL") == "http"
    needed = ("AZUREML_RUN_ID", "AZUREML_SERVICE_ENDPOINT", "AZUREML_RUN_TOKEN") if http else \
        ("AZUREML_RUN_ID", "AMLOCAL_RUN_DIR")
    missing = [key for key in needed if not env.get(key)]
    if missing:
        raise UserErrorException(f"not inside an amlocal run: {', '.join(missing)} not set")
    experiment = env.get("AZUREML_EXPERIMENT_NAME") or env.get("AZUREML_ARM_PROJECT_NAME", "")
    api = None
    if api_class is not None and env.get("AZUREML_SERVICE_ENDPOINT") and env.get("AZUREML_RUN_TOKEN"):
        api = api_class(env["AZUREML_SERVICE_ENDPOINT"], env["AZUREML_RUN_TOKEN"],
                        env["AZUREML_RUN_ID"])
    if http:
        if api is None:
            raise UserErrorException("AMLOCAL_RUN_CHANNEL=http needs the run API client")
        return AmlocalRun(env["AZUREML_RUN_ID"], experiment, None, fold, api=api,
                          channel=HttpChannel(api, env["AZUREML_RUN_ID"]))
    return AmlocalRun(env["AZUREML_RUN_ID"], experiment, Path(env["AMLOCAL_RUN_DIR"]), fold,
                      api=api)
