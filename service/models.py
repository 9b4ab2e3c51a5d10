"""Models: register a version from a run's files or an upload (its estimator recorded), zip one.

The registry's rows and files are the store's (service/store/models.py); this module decides what
a registration holds: which run files, which upload paths, what the model's estimator and
environment are (loaded in a child process: service/introspect/).
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from .errors import BadRequest, Conflict
from .introspect.child import MODEL_SUFFIXES, find_model_files
from .introspect.parent import Introspection, failed, introspect
from .runs import list_run_files, open_run_file
from .store import ACTIVE, Run, Store, Workspace
from .store.models import ModelVersion, StagedModel
from .store.space import remaining_size, require_space

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so a folder's zip is the same bytes every time
SHOWN_RUN_FILES = 100
SKLEARN_LIKE = ("ScikitLearn", "Custom")
MODEL_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}$"
MODEL_NAME_ERROR = ("Error, provided model name is invalid. It must only consist of letters, "
                    "numbers, dashes, periods, or underscores, start with a letter or number, and "
                    "be between 1 and 255 characters long.")
# Azure ML's Model.Framework values.
FRAMEWORKS = ("Custom", "TensorFlow", "ScikitLearn", "Onnx", "TfKeras", "PyTorch", "Multi")


def check_name(name: str) -> str:
    """Azure ML's model-name rule, or a 400."""
    if not re.fullmatch(MODEL_NAME, name):  # fullmatch: `$` alone passes "name\n"
        raise BadRequest(MODEL_NAME_ERROR, field="name")
    return name


# -- registering ------------------------------------------------------------------------------

def select_run_files(run_dir: Path, path: str) -> list[tuple[str, str]]:
    """(name in the model folder, the run's file name) for a run path; Azure's message when
    nothing matches."""
    listed = [f["path"] for f in list_run_files(run_dir)]
    raw = path.replace("\\", "/")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    wanted = "/".join(parts)
    safe = parts and not raw.startswith("/") and ".." not in parts
    chosen = [p for p in listed if p == wanted or p.startswith(wanted + "/")] if safe else []
    if not chosen:
        shown = listed[:SHOWN_RUN_FILES] + (["..."] if len(listed) > SHOWN_RUN_FILES else [])
        raise BadRequest(f"Could not locate the provided model_path {path} in the set of files "
                         f"uploaded to the run: {shown} See https://aka.ms/run-logging for more "
                         "details.", field="path")
    if chosen == [wanted]:  # a file keeps its base name; a folder keeps its own name on top
        return [(PurePosixPath(wanted).name, wanted)]
    base = PurePosixPath(wanted).name
    return [(f"{base}/{p[len(wanted) + 1:]}", p) for p in chosen]


def run_python(run: Run, ws: Workspace) -> str | None:
    """The interpreter of the run's environment, if it recorded one inside the workspace."""
    python = (run.properties or {}).get("amlocal.python")
    if run.environment is None or not isinstance(python, str) or not python:
        return None
    # Runs may write their own properties: only an interpreter of a materialised environment
    # of this workspace is executed (the path is not resolved: a venv's python is a symlink).
    path = os.path.normpath(os.path.abspath(python))
    if path == os.path.normpath(sys.executable) or not path.startswith(str(ws.envs_dir) + os.sep):
        return None
    return path


def inspect_staged(staged: StagedModel, framework: str, python: str | None,
                   want_environment: bool, timeout_s: float) -> Introspection:
    """Estimator facts of the one model file (scikit-learn-like frameworks), in a child."""
    candidates = find_model_files([f["path"] for f in staged.files])
    model_file, estimator = None, None
    if framework in SKLEARN_LIKE and len(candidates) == 1:
        model_file = staged.dir / candidates[0]
    elif framework == "ScikitLearn":
        estimator = failed(f"expected exactly one model file ({', '.join(MODEL_SUFFIXES)}), "
                           f"found {len(candidates)}: {candidates[:20]}")
    if model_file is None and not want_environment:
        return Introspection(None, estimator)
    found = introspect(model_file, python=python, timeout_s=timeout_s)
    return Introspection(found.environment if want_environment else None,
                         found.estimator if model_file is not None else estimator)


def check_sample_rows(rows: list | None, estimator: dict | None) -> None:
    """Sample rows given as lists must have as many values as the model has features."""
    expected = (estimator or {}).get("n_features_in")
    if not rows or not isinstance(expected, int) or (estimator or {}).get("status") != "ok":
        return
    for i, row in enumerate(rows):
        if isinstance(row, list) and len(row) != expected:
            raise BadRequest(f"sample_input row {i} has {len(row)} values; the model expects "
                             f"{expected} features.", field="sample_input")


def _register(db: Store, staged: StagedModel, fields: dict, run: Run | None,
              python: str | None, timeout_s: float) -> ModelVersion:
    framework = fields["framework"] or "Custom"
    found = inspect_staged(staged, framework, python, want_environment=run is not None,
                           timeout_s=timeout_s)
    check_sample_rows(fields["sample_input"], found.estimator)
    environment = found.environment
    if run is not None and environment is not None and run.environment is not None:
        environment = {**environment, "run_environment": run.environment}
    return db.register_model_version(
        fields["name"], staged, framework=framework,
        framework_version=fields["framework_version"],
        resource_configuration=fields["resource_configuration"],
        run_id=run.id if run else None, experiment=run.experiment if run else None,
        run_path=fields.get("path") if run else None, tags=fields["tags"],
        properties=fields["properties"], description=fields["description"],
        environment=environment, estimator=found.estimator, sample_input=fields["sample_input"])


def register_from_run(db: Store, ws: Workspace, fields: dict, timeout_s: float,
                      by_the_run: bool = False) -> ModelVersion:
    """Copy a Completed run's file or folder into a new version; `by_the_run`: the run itself
    registers (through its run token) while it is still active, as Azure's run.register_model."""
    if not fields.get("run_id"):
        raise BadRequest("Missing run_id: send JSON {name, run_id, path} to register a run's "
                         "files, or multipart/form-data with 'files' parts to upload.",
                         field="run_id")
    run = db.get_run(fields["run_id"])
    if run.status != "Completed" and not (by_the_run and run.status in ACTIVE):
        raise Conflict(f"Run {run.id} is {run.status}; only a Completed run's files can be "
                       "registered as a model.", field="run_id", run_status=run.status)
    fields.setdefault("path", fields["name"])  # Azure: model_path defaults to the model name
    sources = select_run_files(ws.run_dir(run.id), fields["path"])
    staged = db.new_stage()
    try:
        for rel, source in sources:
            # by name, not by the resolved path: the run may swap a file for a link meanwhile
            with open_run_file(ws.run_dir(run.id), source) as fh:
                db.stage_file(staged, rel, fh)
        return _register(db, staged, fields, run, run_python(run, ws), timeout_s)
    finally:
        db.discard_stage(staged)


def upload_path(filename: str | None) -> str:
    """A multipart file name as a path inside the model folder (no absolute paths, no '..')."""
    raw = (filename or "").replace("\\", "/")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if not parts or raw.startswith("/") or ".." in parts:
        raise BadRequest(f"Invalid file name {filename!r}: a relative path without '..'.",
                         field="files")
    return "/".join(parts)


def register_upload(db: Store, fields: dict, uploads: list, timeout_s: float) -> ModelVersion:
    """Copy uploaded files into a new version."""
    if fields.get("run_id") or fields.get("path"):
        raise BadRequest("run_id and path register a run's files; an upload carries its own "
                         "files (send JSON instead, without files).", field="run_id")
    if not uploads:
        raise BadRequest("No files: send the model as one or more multipart 'files' parts.",
                         field="files")
    sizes = [remaining_size(upload.stream) for upload in uploads]
    require_space(db.workspace.root, sum(size or 0 for size in sizes), "the upload", field="files")
    staged = db.new_stage()
    try:
        for upload in uploads:
            rel = upload_path(upload.filename)
            try:
                db.stage_file(staged, rel, upload.stream)  # a full disk: 507 from the store
            except (FileExistsError, IsADirectoryError, NotADirectoryError) as err:
                # the same name twice, or a name both a file and a folder
                raise BadRequest(f"File {rel!r} clashes with another file of the upload.",
                                 field="files") from err
        if staged.size == 0:
            raise BadRequest("The upload is empty: its files hold no bytes.", field="files")
        return _register(db, staged, fields, None, None, timeout_s)
    finally:
        db.discard_stage(staged)


def zip_folder(model: ModelVersion, tmp_dir: Path) -> tuple[IO[bytes], str]:
    """A folder model as one zip (fixed times, so the same bytes every time) and its sha256."""
    archive = tempfile.TemporaryFile(dir=tmp_dir)  # gone when the response closes
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for record in model.files:
            info = zipfile.ZipInfo(record["path"], date_time=ZIP_TIME)
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            with open(model.dir / record["path"], "rb") as src, zf.open(info, "w") as dst:
                while chunk := src.read(1024 * 1024):
                    dst.write(chunk)
    archive.seek(0)
    digest = hashlib.sha256()
    while chunk := archive.read(1024 * 1024):
        digest.update(chunk)
    archive.seek(0)
    return archive, digest.hexdigest()
