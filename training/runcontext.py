"""The run object a training script gets from `Run.get_context()` under amlocal.

Standard library only, loaded by path by `bootstrap.py` in any interpreter. Every call appends
one JSON line to the run's events file (flushed at once) so the agent sees it while the script
runs; the executor turns the lines into the run's record. Value rules follow azureml-core's
`_metrics.py`.
"""
from __future__ import annotations

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


class UserErrorException(Exception):
    """Mirrors azureml.exceptions.UserErrorException for misuse of the run API."""


# Tracebacks name it as Azure ML's own rather than after the private module it is loaded as.
UserErrorException.__module__ = "azureml.exceptions"


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


class _Experiment:
    """The `run.experiment` a script can read its name from."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name})"


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


class AmlocalRun:
    """A run bound to one amlocal run folder; the subset of azureml.core.Run scripts use."""

    def __init__(self, run_id: str, experiment_name: str, run_dir: Path,
                 fold: Callable[[Iterable[dict]], dict], writer: EventWriter | None = None):
        self._id = run_id
        self.experiment = _Experiment(experiment_name)
        self._run_dir = Path(run_dir)
        self._fold = fold
        self._writer = writer or EventWriter(self._run_dir / ".amlocal" / "events.jsonl")
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

    @property
    def id(self) -> str:
        """The run id."""
        return self._id

    @property
    def name(self) -> str:
        """The run's display name (its id)."""
        return self._id

    @property
    def tags(self) -> dict[str, Any]:
        """A copy of the run's tags."""
        return dict(self._tags)

    @property
    def properties(self) -> dict[str, Any]:
        """A copy of the run's properties."""
        return dict(self._properties)

    def __repr__(self) -> str:
        return f"Run(Experiment: {self.experiment.name}, Id: {self._id}, Status: {self._status})"

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
        self._metrics.append(self._writer.write(event))

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
        """Keep an image (a file, or a matplotlib figure/pyplot) as the run file `<name>.png`."""
        if (path is None) == (plot is None):
            raise UserErrorException("log_image needs exactly one of path or plot")
        if plot is None:
            self.upload_file(name + (Path(path).suffix or ".png"), path)
            return
        import io
        buffer = io.BytesIO()
        plot.savefig(buffer, format="png")
        buffer.seek(0)
        self.upload_file(f"{name}.png", buffer)

    def _log_json_artifact(self, schema: str, name: str, value: Any) -> None:
        """Azure keeps these metrics as JSON artifacts; so do we, as `<name>.json`."""
        import io
        data = value if isinstance(value, (dict, list)) else json.loads(value)
        body = json.dumps({"schema_type": schema, "data": data}, default=repr).encode()
        self.upload_file(f"{name}.json", io.BytesIO(body))

    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        """Keep a confusion matrix as a JSON run file."""
        self._log_json_artifact("confusion_matrix", name, value)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        """Keep an accuracy table as a JSON run file."""
        self._log_json_artifact("accuracy_table", name, value)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        """Keep residuals as a JSON run file."""
        self._log_json_artifact("residuals", name, value)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        """Keep predictions as a JSON run file."""
        self._log_json_artifact("predictions", name, value)

    def get_metrics(self, name: str | None = None, recursive: bool = False,
                    run_type: str | None = None, populate: bool = False) -> dict[str, Any]:
        """This run's metrics in Azure ML's shapes (optionally only `name`)."""
        folded = self._fold(self._metrics)
        if name is not None:
            folded = {name: folded[name]} if name in folded else {}
        return {self._id: folded} if recursive else folded

    def tag(self, key: str, value: Any = None) -> None:
        """Set one tag."""
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Merge tags into the run's tags."""
        if not isinstance(tags, dict):
            raise UserErrorException("set_tags expects a dict")
        clean = {str(k): (None if v is None else str(v)) for k, v in tags.items()}
        self._tags.update(clean)
        self._writer.write({"type": "tags", "tags": clean})

    def get_tags(self) -> dict[str, Any]:
        """The run's tags."""
        return dict(self._tags)

    def remove_tags(self, tags: Iterable[str]) -> None:
        """Remove tags by key."""
        keys = [str(key) for key in tags]
        for key in keys:
            self._tags.pop(key, None)
        self._writer.write({"type": "tags", "tags": {}, "removed": keys})

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
        self._writer.write({"type": "properties", "properties": clean})

    def get_properties(self) -> dict[str, Any]:
        """The run's properties."""
        return dict(self._properties)

    def upload_file(self, name: str, path_or_stream: Any, datastore_name: str | None = None) -> None:
        """Copy a file (path or binary stream) into the run's files as `name`."""
        target = self._artifact_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if hasattr(path_or_stream, "read"):
            with target.open("wb") as handle:
                shutil.copyfileobj(path_or_stream, handle)
        else:
            shutil.copyfile(path_or_stream, target)
        self._writer.write({"type": "file", "name": self._clean_name(name),
                            "size": target.stat().st_size})

    def upload_files(self, names: list[str], paths: list[str], **kwargs: Any) -> None:
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
        """The run's uploaded and written files so far (outputs are added at the end)."""
        files = []
        for file in self._run_dir.rglob("*"):
            rel = file.relative_to(self._run_dir).as_posix()
            if file.is_file() and not rel.startswith((".amlocal/", "wd/")):
                files.append(rel)
        return sorted(files)

    @staticmethod
    def _clean_name(name: str) -> str:
        """An artifact name as a relative posix path inside the run, refusing escapes."""
        parts = [p for p in str(name).replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts or ".." in parts or parts[0] in (".amlocal", "wd"):
            raise UserErrorException(f"invalid artifact name {name!r}")
        return "/".join(parts)

    def _artifact_path(self, name: str) -> Path:
        """Where an artifact named `name` lives."""
        return self._run_dir / self._clean_name(name)

    def _set_status(self, status: str, error: dict[str, Any] | None = None) -> None:
        """Record a final status the script asked for."""
        self._status = status
        self._writer.write({"type": "status", "status": status, "error": error})

    def complete(self, _set_status: bool = True) -> None:
        """Mark the run Completed (the process still has to exit with 0)."""
        self._set_status("Completed")

    def fail(self, error_details: Any = None, error_code: str | None = None,
             _set_status: bool = True) -> None:
        """Mark the run Failed with a message (error code defaults to UserError)."""
        message = str(error_details) if error_details is not None else "Run failed"
        self._set_status("Failed", {"message": message[:MAX_ERROR_CHARS],
                                    "code": error_code or "UserError"})

    def cancel(self) -> None:
        """Ask for the run to be canceled; the executor stops the process."""
        self._set_status("Canceled")

    def get_status(self) -> str:
        """The run's status as this process knows it."""
        return self._status

    def flush(self, timeout_seconds: int = 300) -> None:
        """Nothing to flush: every event is written when it happens."""

    def __enter__(self) -> "AmlocalRun":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            self.complete()
        else:
            self.fail(error_details=f"{exc_type.__name__}: {exc}")


_CURRENT: AmlocalRun | None = None


def bind(run: AmlocalRun) -> AmlocalRun:
    """Make `run` what get_context() returns in this process."""
    global _CURRENT
    _CURRENT = run
    return run


def from_environment(fold: Callable[[Iterable[dict]], dict],
                     environ: dict[str, str] | None = None) -> AmlocalRun:
    """A run built from the variables the executor sets (AZUREML_RUN_ID, AMLOCAL_RUN_DIR, ...)."""
    env = os.environ if environ is None else environ
    missing = [key for key in ("AZUREML_RUN_ID", "AMLOCAL_RUN_DIR") if not env.get(key)]
    if missing:
        raise UserErrorException(f"not inside an amlocal run: {', '.join(missing)} not set")
    experiment = env.get("AZUREML_EXPERIMENT_NAME") or env.get("AZUREML_ARM_PROJECT_NAME", "")
    return AmlocalRun(env["AZUREML_RUN_ID"], experiment, Path(env["AMLOCAL_RUN_DIR"]), fold)
