"""Runs: receive one (the snapshot checked, stored by sha256, the run queued), and its files on disk."""
from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from training import snapshot as snapshots

from .environments import resolve_environment
from .errors import BadRequest, NotFound, PayloadTooLarge
from .store import Run, Store, Workspace

CHUNK = 1024 * 1024
EXPERIMENT_NAME = r"^[a-zA-Z0-9][\w\-]{0,254}$"
EXPERIMENT_NAME_ERROR = ("Experiment name must be between 1 and 255 characters long. Its first "
                         "character has to be alphanumeric, and the rest may contain hyphens and "
                         "underscores. No whitespace is allowed.")
LOG_FILE = "user_logs/std_log.txt"
HIDDEN = {".amlocal", "wd"}
LIVE = ("outputs", "logs")  # while a run goes these still sit in wd/


@dataclass(frozen=True)
class StoredSnapshot:
    sha256: str
    files: list[str]


def check_experiment_name(name: str) -> str:
    """Azure ML's experiment-name rule, or a 400."""
    if not re.match(EXPERIMENT_NAME, name):
        raise BadRequest(EXPERIMENT_NAME_ERROR, field="experiment")
    return name


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


def submit_run(store: Store, ws: Workspace, experiment: str, config: dict,
               snapshot_stream: IO[bytes] | None, max_bytes: int) -> Run:
    """Resolve the environment, store the snapshot, then create the queued run (nothing on error).

    `config` is a validated run config (the API's RunConfigSchema)."""
    check_experiment_name(experiment)
    environment = config["environment"]
    if environment is not None:
        environment = resolve_environment(store, environment)
    snap = store_snapshot(ws, snapshot_stream, max_bytes, config["script"])
    return store.create_run(experiment, config["script"], config["arguments"], snap.sha256,
                            environment=environment, tags=config["tags"],
                            timeout_s=config["timeout_s"])


# -- a run's files -----------------------------------------------------------------------------
def list_run_files(run_dir: Path) -> list[dict]:
    """Every artifact of a run as {path, size}, sorted; live outputs/logs included."""
    found: dict[str, int] = {}
    if run_dir.is_dir():
        for path in run_dir.rglob("*"):
            rel = path.relative_to(run_dir)
            if rel.parts[0] in HIDDEN or not path.is_file():
                continue
            found[rel.as_posix()] = path.stat().st_size
        for sub in LIVE:
            live = run_dir / "wd" / sub
            if live.is_dir():
                for path in live.rglob("*"):
                    if path.is_file():
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


def read_log(run_dir: Path, offset: int, limit: int = 1024 * 1024) -> tuple[bytes, int]:
    """Bytes of the run's log from `offset`; returns (chunk, next offset)."""
    path = run_dir / LOG_FILE
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read(limit)
    except FileNotFoundError:
        return b"", offset
    return chunk, offset + len(chunk)
