"""Receiving a run: the uploaded snapshot is checked, stored by sha256, and the run queued."""
from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from typing import IO, Any

from marshmallow import Schema

from training import snapshot as snapshots

from .errors import BadRequest, PayloadTooLarge
from .openapi import load
from .schemas.runs import EXPERIMENT_NAME, EXPERIMENT_NAME_ERROR, RunConfigSchema
from .store import Run, Store
from .workspace import Workspace

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredSnapshot:
    sha256: str
    files: list[str]


def check_experiment_name(name: str) -> str:
    """Azure ML's experiment-name rule, or a 400."""
    if not re.match(EXPERIMENT_NAME, name):
        raise BadRequest(EXPERIMENT_NAME_ERROR, field="experiment")
    return name


def parse_config(raw: str | None, schema: Schema) -> dict:
    """The multipart `config` part: JSON text validated by `schema` (unknown fields refused)."""
    if raw is None or raw == "":
        raise BadRequest("Missing the 'config' part: a JSON run config.", field="config")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise BadRequest(f"The 'config' part is not valid JSON: {err}", field="config") from err
    if not isinstance(data, dict):
        raise BadRequest("The 'config' part must be a JSON object.", field="config")
    return load(schema, data, field_prefix="config.")


def store_snapshot(ws: Workspace, stream: IO[bytes] | None, max_bytes: int,
                   script: str) -> StoredSnapshot:
    """Copy the upload aside while hashing, check it holds `script`, move it into snapshots/."""
    if stream is None:
        raise BadRequest("Missing the 'snapshot' part: a .tar.gz of the source directory.",
                         field="snapshot")
    tmp = ws.tmp_dir / f"upload-{uuid.uuid4().hex}.tar.gz"
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"The snapshot exceeds {max_bytes} bytes.",
                                          field="snapshot")
                digest.update(chunk)
                out.write(chunk)
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


def check_script(script: str, files: list[str]) -> None:
    """The script must be one of the snapshot's files."""
    normalised = os.path.normpath(script).replace(os.sep, "/")
    if normalised.startswith("../") or os.path.isabs(script) or normalised not in files:
        shown = files[:50]
        raise BadRequest(f"Script {script!r} is not in the snapshot; it holds {len(files)} files: "
                         f"{shown}{' ...' if len(files) > 50 else ''}", field="config.script")


def submit_run(store: Store, ws: Workspace, experiment: str, config_text: str | None,
               snapshot_stream: IO[bytes] | None, max_bytes: int,
               resolve_environment=None) -> Run:
    """Validate everything, store the snapshot, then create the queued run (nothing on error)."""
    check_experiment_name(experiment)
    config = parse_config(config_text, RunConfigSchema())
    environment: Any = config["environment"]
    if environment is not None:
        if resolve_environment is None:
            raise BadRequest("Named environments are not available on this service.",
                             field="config.environment")
        environment = resolve_environment(environment)
    snap = store_snapshot(ws, snapshot_stream, max_bytes, config["script"])
    return store.create_run(experiment, config["script"], config["arguments"], snap.sha256,
                            environment=environment, tags=config["tags"],
                            timeout_s=config["timeout_s"])
