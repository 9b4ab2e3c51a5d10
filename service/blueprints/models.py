"""Models: register (from a run's files or an upload), list, show, download, tag, delete."""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from flask import Blueprint, current_app, request, send_file

from ..errors import BadRequest, Conflict
from ..introspect import DEFAULT_TIMEOUT_S, Introspection, failed, introspect, warm_up
from ..introspect_child import MODEL_SUFFIXES, find_model_files
from ..openapi import doc, load
from ..runfiles import list_run_files, resolve_run_file
from ..schemas.models import (MODEL_NAME, MODEL_NAME_ERROR, ModelListQuerySchema,
                              ModelPropertiesAddSchema, ModelSchema, ModelTagsUpdateSchema,
                              RegisterSchema)
from ..store import Run, Store
from ..store.models import ModelVersion, StagedModel
from ..workspace import Workspace
from . import parse_pairs, parse_version, store, workspace

bp = Blueprint("models", __name__)
MODEL = ModelSchema()
MODELS = ModelSchema(many=True)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so a folder's zip is the same bytes every time
SHOWN_RUN_FILES = 100
SKLEARN_LIKE = ("ScikitLearn", "Custom")
REGISTER_SUMMARY = ("Register a model version: JSON {name, run_id, path, ...} from a run's files, "
                    "or multipart/form-data with `files` parts and a JSON `config` part "
                    "{name, framework, ...}.")


def check_name(name: str) -> str:
    """Azure ML's model-name rule, or a 400."""
    if not re.match(MODEL_NAME, name):
        raise BadRequest(MODEL_NAME_ERROR, field="name")
    return name


# -- registering ------------------------------------------------------------------------------

def select_run_files(run_dir: Path, path: str) -> list[tuple[str, Path]]:
    """(name in the model folder, file) for a run path; Azure's message when nothing matches."""
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
        return [(PurePosixPath(wanted).name, resolve_run_file(run_dir, wanted))]
    base = PurePosixPath(wanted).name
    return [(f"{base}/{p[len(wanted) + 1:]}", resolve_run_file(run_dir, p)) for p in chosen]


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
                   want_environment: bool) -> Introspection:
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
    timeout = (current_app.config.get("INTROSPECT_TIMEOUT_S")
               or current_app.config["SETTINGS"].introspect_timeout_s
               or DEFAULT_TIMEOUT_S)
    found = introspect(model_file, python=python, timeout_s=float(timeout))
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
              python: str | None) -> ModelVersion:
    framework = fields["framework"] or "Custom"
    found = inspect_staged(staged, framework, python, want_environment=run is not None)
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


def register_from_run(db: Store, ws: Workspace, fields: dict) -> ModelVersion:
    """Copy a Completed run's file or folder into a new version."""
    if not fields.get("run_id"):
        raise BadRequest("Missing run_id: send JSON {name, run_id, path} to register a run's "
                         "files, or multipart/form-data with 'files' parts to upload.",
                         field="run_id")
    run = db.get_run(fields["run_id"])
    if run.status != "Completed":
        raise Conflict(f"Run {run.id} is {run.status}; only a Completed run's files can be "
                       "registered as a model.", field="run_id", run_status=run.status)
    fields.setdefault("path", fields["name"])  # Azure: model_path defaults to the model name
    sources = select_run_files(ws.run_dir(run.id), fields["path"])
    staged = db.new_stage()
    try:
        for rel, source in sources:
            with open(source, "rb") as fh:
                db.stage_file(staged, rel, fh)
        return _register(db, staged, fields, run, run_python(run, ws))
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


def register_upload(db: Store, fields: dict, uploads: list) -> ModelVersion:
    """Copy uploaded files into a new version."""
    if fields.get("run_id") or fields.get("path"):
        raise BadRequest("run_id and path register a run's files; an upload carries its own "
                         "files (send JSON instead, without files).", field="run_id")
    if not uploads:
        raise BadRequest("No files: send the model as one or more multipart 'files' parts.",
                         field="files")
    staged = db.new_stage()
    try:
        for upload in uploads:
            rel = upload_path(upload.filename)
            try:
                db.stage_file(staged, rel, upload.stream)
            except OSError as err:  # the same name twice, or a name both a file and a folder
                raise BadRequest(f"File {rel!r} clashes with another file of the upload.",
                                 field="files") from err
        if staged.size == 0:
            raise BadRequest("The upload is empty: its files hold no bytes.", field="files")
        return _register(db, staged, fields, None, None)
    finally:
        db.discard_stage(staged)


def _fields() -> tuple[dict, list | None]:
    """The registration fields (JSON body, or a multipart `config` part) and the uploads."""
    if request.mimetype == "multipart/form-data":
        raw = request.form.get("config")
        if raw is None and "config" in request.files:
            raw = request.files["config"].read().decode("utf-8", "replace")
        try:
            data = json.loads(raw) if raw else None
        except json.JSONDecodeError as err:
            raise BadRequest(f"The 'config' part is not valid JSON: {err}", field="config") from err
        if not isinstance(data, dict):
            raise BadRequest("Missing the 'config' part: a JSON object {name, framework, ...}.",
                             field="config")
        return load(RegisterSchema(), data), request.files.getlist("files")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object {name, run_id, path, ...}.", field="body")
    return load(RegisterSchema(), data), None


# -- routes -----------------------------------------------------------------------------------

@bp.before_request
def _warm_up_introspection() -> None:
    warm_up()  # any model request starts the fork server's imports; a no-op once it runs


@bp.post("/models")
@doc(REGISTER_SUMMARY, body=RegisterSchema, response=ModelSchema, status=201,
     errors=(400, 401, 404, 409, 413))
def register():
    fields, uploads = _fields()
    if uploads is None:
        model = register_from_run(store(), workspace(), fields)
    else:
        model = register_upload(store(), fields, uploads)
    return MODEL.dump(model), 201


@bp.get("/models")
@doc("List model versions: ?name=&tag=K[=V]&property=K[=V]&framework=&run_id=&latest=true.",
     query=ModelListQuerySchema, response=ModelSchema, many=True, errors=(400, 401))
def list_models():
    raw = {k: v for k, v in request.args.items() if k not in ("tag", "property")}
    raw.update(tag=request.args.getlist("tag"), property=request.args.getlist("property"))
    query = load(ModelListQuerySchema(), raw)
    found = store().list_model_versions(
        query.get("name"), tags=parse_pairs(query["tag"]), properties=parse_pairs(query["property"]),
        framework=query.get("framework"), run_id=query.get("run_id"), latest=query["latest"],
        limit=query["limit"])
    return {"models": MODELS.dump(found)}


@bp.get("/models/<name>")
@doc("All versions of a model, newest first.", response=ModelSchema, many=True)
def versions(name: str):
    found = store().list_model_versions(check_name(name))
    if not found:
        store().get_model_version(name)  # raises Azure's ModelNotFound
    return {"models": MODELS.dump(found)}


@bp.get("/models/<name>/versions/<version>")
@doc("One version (or `latest`).", response=ModelSchema)
def show(name: str, version: str):
    return MODEL.dump(store().get_model_version(check_name(name), parse_version(version)))


@bp.get("/models/<name>/versions/<version>/download")
@doc("The model's file, or a zip of its folder; x-amlocal-sha256 is the body's sha256.",
     response={"type": "string", "format": "binary"}, content_type="application/octet-stream")
def download(name: str, version: str):
    model = store().get_model_version(check_name(name), parse_version(version))
    if model.is_single_file:
        record = model.files[0]
        response = send_file(model.dir / record["path"], as_attachment=True,
                             download_name=record["path"], mimetype="application/octet-stream")
        response.headers["x-amlocal-sha256"] = record["sha256"]
        return response
    archive, digest = _zip(model)
    response = send_file(archive, as_attachment=True, mimetype="application/zip",
                         download_name=f"{model.name}-{model.version}.zip")
    response.headers["x-amlocal-sha256"] = digest
    return response


def _zip(model: ModelVersion):
    archive = tempfile.TemporaryFile(dir=workspace().tmp_dir)  # gone when the response closes
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


@bp.patch("/models/<name>/versions/<version>/tags")
@doc("Add and remove tags.", body=ModelTagsUpdateSchema, response=ModelSchema)
def update_tags(name: str, version: str):
    body = load(ModelTagsUpdateSchema(), request.get_json(silent=True))
    return MODEL.dump(store().update_model_tags(check_name(name), parse_version(version),
                                                body["add"], body["remove"]))


@bp.patch("/models/<name>/versions/<version>/properties")
@doc("Add properties; an existing key is never changed (409).", body=ModelPropertiesAddSchema,
     response=ModelSchema, errors=(400, 401, 404, 409))
def add_properties(name: str, version: str):
    body = load(ModelPropertiesAddSchema(), request.get_json(silent=True))
    return MODEL.dump(store().add_model_properties(check_name(name), parse_version(version),
                                                   body["add"]))


@bp.delete("/models/<name>/versions/<version>")
@doc("Delete a version and its files; 409 while a deployment uses it.", response=ModelSchema,
     errors=(400, 401, 404, 409))
def delete(name: str, version: str):
    return MODEL.dump(store().delete_model_version(check_name(name), parse_version(version)))
