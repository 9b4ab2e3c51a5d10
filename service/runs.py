"""Runs: receive one (the snapshot checked, stored by sha256, the run queued), its files on disk,
and what a run records about itself over HTTP (metrics, properties, files, child runs).

A run's folder is its script's to write while it runs, so its files are read and written here
through training/beneath.py: never through a link the script planted.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from training import snapshot as snapshots
from training.beneath import TooLarge, open_regular, relative_parts, write_beneath
from training.streams import is_valid_event

from .computes import resolve_compute
from .environments import resolve_environment
from .errors import BadRequest, Conflict, InsufficientStorage, NotFound, PayloadTooLarge
from .store import CHILD_KIND, Run, Store, Workspace, space

CHUNK = 1024 * 1024
EXPERIMENT_NAME = r"^[a-zA-Z0-9][\w\-]{0,254}$"
EXPERIMENT_NAME_ERROR = ("Experiment name must be between 1 and 255 characters long. Its first "
                         "character has to be alphanumeric, and the rest may contain hyphens and "
                         "underscores. No whitespace is allowed.")
LOG_FILE = "user_logs/std_log.txt"
HIDDEN = {".amlocal", "wd"}
LIVE = ("outputs", "logs")  # while a run goes these still sit in wd/
CHILD_RUN_ID = r"[a-zA-Z0-9][\w\-.]{0,255}"
INTERACTIVE_KIND = "interactive"  # experiment.start_logging(): no script, ended by its caller


@dataclass(frozen=True)
class StoredSnapshot:
    sha256: str
    files: list[str]


def check_experiment_name(name: str) -> str:
    """Azure ML's experiment-name rule, or a 400."""
    if not re.fullmatch(EXPERIMENT_NAME, name):  # fullmatch: `$` alone passes "name\n"
        raise BadRequest(EXPERIMENT_NAME_ERROR, field="experiment")
    return name


def store_snapshot(ws: Workspace, stream: IO[bytes] | None, max_bytes: int,
                   script: str) -> StoredSnapshot:
    """Copy the upload aside while hashing, check it holds `script`, move it into snapshots/."""
    if stream is None:
        raise BadRequest("Missing the 'snapshot' part: a .tar.gz of the source directory.",
                         field="snapshot")
    announced = space.remaining_size(stream)
    if announced is not None and announced <= max_bytes:  # (a larger one is a 413, below)
        space.require_space(ws.root, announced, "the snapshot", field="snapshot")
    # held while in use: a start-up clean-up removes only what an interrupted upload left
    tmp, hold = space.new_staging(ws.tmp_dir, "upload-", ".tar.gz")
    digest, size = hashlib.sha256(), 0
    try:
        try:
            with open(tmp, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(f"The snapshot exceeds {max_bytes} bytes.",
                                              field="snapshot")
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as err:
            if space.is_full(err):
                raise space.full_error("the snapshot", field="snapshot") from err
            raise
        if size == 0:
            raise BadRequest("The 'snapshot' part is empty.", field="snapshot")
        try:
            files = snapshots.inspect(tmp)
        except snapshots.SnapshotError as err:
            raise BadRequest(f"Invalid snapshot: {err}", field="snapshot") from err
        check_script(script, files)
        sha = digest.hexdigest()
        os.replace(tmp, ws.snapshot(sha))
        return StoredSnapshot(sha, files)
    finally:
        tmp.unlink(missing_ok=True)
        os.close(hold)


def check_script(script: str, files: list[str]) -> None:
    """The script must be one of the snapshot's files."""
    normalised = os.path.normpath(script).replace(os.sep, "/")
    if normalised.startswith("../") or os.path.isabs(script) or normalised not in files:
        shown = files[:50]
        raise BadRequest(f"Script {script!r} is not in the snapshot; it holds {len(files)} files: "
                         f"{shown}{' ...' if len(files) > 50 else ''}", field="config.script")


def submit_run(store: Store, ws: Workspace, experiment: str, config: dict,
               snapshot_stream: IO[bytes] | None, max_bytes: int) -> Run:
    """Resolve the environment, store the snapshot, then create the queued run (nothing on error).

    `config` is a validated run config (the API's RunConfigSchema)."""
    check_experiment_name(experiment)
    environment = config["environment"]
    if environment is not None:
        environment = resolve_environment(store, environment)
    compute = resolve_compute(store, config.get("compute_target"))
    snap = store_snapshot(ws, snapshot_stream, max_bytes, config["script"])
    return store.create_run(experiment, config["script"], config["arguments"], snap.sha256,
                            environment=environment, tags=config["tags"],
                            timeout_s=config["timeout_s"], compute=compute)


# -- a run's files -----------------------------------------------------------------------------
def list_run_files(run_dir: Path) -> list[dict]:
    """Every artifact of a run as {path, size}, sorted; live outputs/logs included."""
    found: dict[str, int] = {}
    if run_dir.is_dir():
        for path in run_dir.rglob("*"):
            rel = path.relative_to(run_dir)
            if rel.parts[0] in HIDDEN or path.is_symlink() or not path.is_file():
                continue
            found[rel.as_posix()] = path.stat().st_size
        for sub in LIVE:
            live = run_dir / "wd" / sub
            if live.is_dir() and not live.is_symlink():
                for path in live.rglob("*"):
                    if path.is_file() and not path.is_symlink():
                        found.setdefault((Path(sub) / path.relative_to(live)).as_posix(),
                                         path.stat().st_size)
    return [{"path": p, "size": s} for p, s in sorted(found.items())]


def resolve_run_file(run_dir: Path, name: str) -> Path:
    """The file for artifact `name`, refusing anything that leaves the run's folder."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts or parts[0] in HIDDEN:
        raise BadRequest(f"Invalid file path {name!r}.", field="path")
    for candidate in (run_dir / name, run_dir / "wd" / name if parts[0] in LIVE else None):
        if candidate is not None and candidate.is_file():
            resolved = candidate.resolve()
            if run_dir.resolve() in resolved.parents:
                return resolved
    raise NotFound(f"The run has no file {name!r}.", field="path")


def open_run_file(run_dir: Path, name: str) -> IO[bytes]:
    """Artifact `name` opened for reading: a regular file reached without links, else 404."""
    resolve_run_file(run_dir, name)  # the name's rules, and a 404 naming it
    for candidate in (name, f"wd/{name}" if Path(name).parts[0] in LIVE else None):
        if candidate is not None:
            try:
                return open_regular(run_dir, candidate)
            except (FileNotFoundError, NotADirectoryError):
                continue
    raise NotFound(f"The run has no file {name!r}.", field="path")


def read_log(run_dir: Path, offset: int, limit: int = 1024 * 1024) -> tuple[bytes, int]:
    """Bytes of the run's log from `offset`; returns (chunk, next offset)."""
    try:
        with open_regular(run_dir, LOG_FILE) as fh:
            if offset >= os.fstat(fh.fileno()).st_size:  # a seek past the filesystem's limit
                return b"", offset                        # is EINVAL, not an empty read
            fh.seek(offset)
            chunk = fh.read(limit)
    except (FileNotFoundError, NotADirectoryError):
        return b"", offset
    return chunk, offset + len(chunk)


# -- what a run records about itself (a run token's writes; the workspace token may too) --------
def _require_open(run: Run, what: str) -> None:
    if run.is_terminal:
        raise Conflict(f"Run {run.id!r} is {run.status}: {what} only while it is not finished.",
                       field="run_id", run_status=run.status)


KIND_VALUES = {"scalar": "a number, string, boolean or null (run.log)",
               "list": "a list (run.log_list)", "row": "an object {column: value} (run.log_row)",
               "table": "an object {column: [values]} (run.log_table)",
               "image": "the image file's aml:// location, a string (run.log_image)"}


def log_metrics(store: Store, run_id: str, metrics: list[dict]) -> int:
    """Record metrics as the run context does (`log`, `log_list`, `log_row`, `log_table`)."""
    _require_open(store.get_run(run_id), "metrics can be logged")
    events = []
    for i, metric in enumerate(metrics):
        event = {"type": "metric", "name": metric["name"], "kind": metric["kind"],
                 "value": metric.get("value"), "step": metric.get("step"),
                 "description": metric.get("description") or ""}
        value = event["value"]
        shaped = {"scalar": not isinstance(value, (list, dict)),
                  "image": isinstance(value, str)}.get(event["kind"], True)
        if not is_valid_event(event) or not shaped:
            raise BadRequest(f"Invalid field 'metrics.{i}.value': a {event['kind']} metric takes "
                             f"{KIND_VALUES[event['kind']]}.", field=f"metrics.{i}.value")
        events.append(event)
    store.record_events(run_id, events)
    return len(events)


def save_run_file(store: Store, ws: Workspace, run_id: str, name: str, stream: IO[bytes],
                  max_bytes: int) -> dict:
    """Store an uploaded file as the run's artifact `name` (Azure's run.upload_file)."""
    run = store.get_run(run_id)
    _require_open(run, "files can be uploaded")
    try:
        parts = relative_parts(name)
    except ValueError as err:
        raise BadRequest(f"Invalid file path {name!r}: a relative path without '..'.",
                         field="path") from err
    if parts[0] in HIDDEN or parts[0] == "user_logs":
        raise BadRequest(f"Invalid file path {name!r}: {parts[0]}/ is amlocal's.", field="path")
    run_dir = ws.run_dir(run.id)
    run_dir.mkdir(parents=True, exist_ok=True)  # a child run has no folder until its first file
    clean = "/".join(parts)
    try:
        size = write_beneath(run_dir, clean, stream, max_bytes)
    except FileExistsError as err:
        raise Conflict(f"Run {run.id!r} already has a file {clean!r}.", field="path") from err
    except (FileNotFoundError, NotADirectoryError) as err:
        raise BadRequest(f"Invalid file path {clean!r}: a part of it is a file or a link.",
                         field="path") from err
    except TooLarge as err:
        raise PayloadTooLarge(f"The file exceeds {max_bytes} bytes.", field="body") from err
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage("no space left on device", field="body") from err
        if err.errno in (errno.ENAMETOOLONG, errno.EINVAL):
            raise BadRequest(f"Invalid file path {clean[:300]!r}: {err.strerror}.",
                             field="path") from err
        raise
    return {"path": clean, "size": size}


def create_child_run(store: Store, parent_id: str, name: str | None = None,
                     run_id: str | None = None, tags: dict | None = None) -> Run:
    """Azure's run.child_run(name, run_id): a Running run `<parent>_<n>` under the parent, with
    no process of its own; it ends through set_run_status, or with its parent."""
    parent = store.get_run(parent_id)
    _require_open(parent, "child runs can be created")
    if run_id is not None and not re.fullmatch(CHILD_RUN_ID, run_id):
        raise BadRequest("Invalid field 'run_id': letters, digits, '_', '-' and '.', starting "
                         "with a letter or digit, at most 256 characters.", field="run_id")
    number = len(store.list_runs(parent_id=parent.id, limit=1_000_000))
    while True:
        child_id = run_id or f"{parent.id}_{number}"
        try:
            store.create_run(parent.experiment, parent.script, [], parent.snapshot_sha256,
                             tags=tags or {}, parent_id=parent.id, kind=CHILD_KIND,
                             run_id=child_id, queued=False,
                             properties={"display_name": name} if name else None)
            break
        except sqlite3.IntegrityError as err:  # the id is taken
            if run_id is not None:
                raise Conflict(f"Run {child_id!r} already exists.", field="run_id") from err
            number += 1  # a sibling made at the same moment took this number
    store.set_run_state(child_id, "Running")
    return store.get_run(child_id)


def start_interactive_run(store: Store, experiment: str, name: str | None = None,
                          run_id: str | None = None, tags: dict | None = None) -> Run:
    """Azure's experiment.start_logging(): a Running run with no script and no process; its
    caller logs to it and ends it (run.complete(), fail(), cancel()) through set_run_status."""
    check_experiment_name(experiment)
    if run_id is not None and not re.fullmatch(CHILD_RUN_ID, run_id):
        raise BadRequest("Invalid field 'run_id': letters, digits, '_', '-' and '.', starting "
                         "with a letter or digit, at most 256 characters.", field="run_id")
    try:
        run = store.create_run(experiment, "", [], "", tags=tags or {}, kind=INTERACTIVE_KIND,
                               run_id=run_id, queued=False,
                               properties={"display_name": name} if name else None)
    except sqlite3.IntegrityError as err:
        raise Conflict(f"Run {run_id!r} already exists.", field="run_id") from err
    store.set_run_state(run.id, "Running")
    return store.get_run(run.id)


def set_run_status(store: Store, run_id: str, status: str, message: str | None = None,
                   code: str | None = None) -> Run:
    """A script ends one of its child runs (child.complete(), fail(), cancel()), or asks for its
    own run's final status, which the end of its process applies."""
    run = store.get_run(run_id)
    _require_open(run, "its status can be set")
    error = None if status == "Completed" else {
        "message": message or f"Run was {status.lower()}", "code": code or "UserError"}
    if run.kind in (CHILD_KIND, INTERACTIVE_KIND):
        return store.finish_run(run_id, status, error)
    if run.kind != "script":
        raise Conflict(f"Run {run_id!r} is a {run.kind} run: amlocal ends it.", field="run_id")
    if status == "Canceled":
        return store.request_cancel(run_id)
    return store.request_status(run_id, status, error)
