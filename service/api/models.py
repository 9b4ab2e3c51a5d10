"""Models: register (from a run's files or an upload), list, show, download, tag, delete."""
from __future__ import annotations

from flask import Blueprint, request, send_file

from ..auth import check_registration, run_scope
from ..introspect.parent import warm_up
from ..models import check_name, register_from_run, register_upload, zip_folder
from ..store import parse_version
from ..store.space import full_error, is_full
from .context import config_part, json_body, parse_pairs, settings, store, workspace
from .openapi import doc, load
from .schemas.models import (ModelListQuerySchema, ModelPropertiesAddSchema, ModelSchema,
                             ModelTagsUpdateSchema, RegisterSchema)

bp = Blueprint("models", __name__)
MODEL = ModelSchema()
MODELS = ModelSchema(many=True)
REGISTER_SUMMARY = ("Register a model version: JSON {name, run_id, path, ...} from a run's files, "
                    "or multipart/form-data with `files` parts and a JSON `config` part "
                    "{name, framework, ...}.")
UPLOAD_PARTS = {
    "files": {"type": "array", "items": {"type": "string", "format": "binary"},
              "description": "the model's files (a folder's files with their relative paths)"},
    "config": {"type": "string", "description": "JSON: {name, framework?, framework_version?, "
                                                 "tags{}, properties{}, description?, ...}"},
}


def _fields() -> tuple[dict, list | None]:
    """The registration fields (JSON body, or a multipart `config` part) and the uploads."""
    if request.mimetype == "multipart/form-data":
        return (config_part(RegisterSchema(), "a JSON object {name, framework, ...}"),
                request.files.getlist("files"))
    return load(RegisterSchema(), json_body("{name, run_id, path, ...} (or multipart/form-data "
                                            "with `files` parts and a JSON `config` part)")), None


# -- routes -----------------------------------------------------------------------------------

@bp.before_request
def _warm_up_introspection() -> None:
    warm_up()  # any model request starts the fork server's imports; a no-op once it runs


@bp.post("/models")
@doc(REGISTER_SUMMARY, body=RegisterSchema, multipart=UPLOAD_PARTS, response=ModelSchema,
     status=201, errors=(400, 404, 409))
def register():
    fields, uploads = _fields()
    scope = run_scope()
    if scope is not None:
        check_registration(scope, fields.get("run_id"), uploads is not None)
    if uploads is None:
        model = register_from_run(store(), workspace(), fields, settings().introspect_timeout_s,
                                  by_the_run=scope is not None)
    else:
        model = register_upload(store(), fields, uploads, settings().introspect_timeout_s)
    return MODEL.dump(model), 201


@bp.get("/models")
@doc("List model versions: ?name=&tag=K[=V]&property=K[=V]&framework=&run_id=&latest=true.",
     query=ModelListQuerySchema, response=ModelSchema, listing="models", errors=(400,))
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
@doc("All versions of a model, newest first.", response=ModelSchema, listing="models")
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
     response={"type": "string", "format": "binary"},
     content_type=("application/octet-stream", "application/zip"),
     errors=(400, 404, 507))  # a folder is zipped into the workspace first
def download(name: str, version: str):
    model = store().get_model_version(check_name(name), parse_version(version))
    if model.is_single_file:
        record = model.files[0]
        response = send_file(model.dir / record["path"], as_attachment=True,
                             download_name=record["path"], mimetype="application/octet-stream")
        response.headers["x-amlocal-sha256"] = record["sha256"]
        return response
    try:
        archive, digest = zip_folder(model, workspace().tmp_dir)
    except OSError as err:
        if is_full(err):
            raise full_error(f"a zip of {model.id}") from err
        raise
    response = send_file(archive, as_attachment=True, mimetype="application/zip",
                         download_name=f"{model.name}-{model.version}.zip")
    response.headers["x-amlocal-sha256"] = digest
    return response


@bp.patch("/models/<name>/versions/<version>/tags")
@doc("Add and remove tags.", body=ModelTagsUpdateSchema, response=ModelSchema)
def update_tags(name: str, version: str):
    body = load(ModelTagsUpdateSchema(), json_body("{add: {key: value}, remove: [key]}"))
    return MODEL.dump(store().update_model_tags(check_name(name), parse_version(version),
                                                body["add"], body["remove"]))


@bp.patch("/models/<name>/versions/<version>/properties")
@doc("Add properties; an existing key is never changed (409).", body=ModelPropertiesAddSchema,
     response=ModelSchema, errors=(400, 404, 409))
def add_properties(name: str, version: str):
    body = load(ModelPropertiesAddSchema(), json_body("{add: {key: value}}"))
    return MODEL.dump(store().add_model_properties(check_name(name), parse_version(version),
                                                   body["add"]))


@bp.delete("/models/<name>/versions/<version>")
@doc("Delete a version and its files; 409 while a deployment uses it.", response=ModelSchema,
     errors=(400, 404, 409))
def delete(name: str, version: str):
    return MODEL.dump(store().delete_model_version(check_name(name), parse_version(version)))
