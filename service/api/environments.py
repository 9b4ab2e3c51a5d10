"""Environments: register a conda/pip spec as a version, list (with curated), show, build, log.

Builds asked for here run in a background thread of the API worker that received the request
(see service/environments.py: start_build); runs build their own environment in the agent during
Preparing.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from ..environments import (DEFINITIONS, build_state, curated_environments, find_environment,
                            register_environment, start_build)
from ..errors import BadRequest, NotFound
from ..store.environments import EnvironmentVersion
from ..store import parse_version
from .context import json_body, store, workspace
from .openapi import doc, load
from .schemas.environments import EnvironmentSchema, RegisterEnvironmentSchema

bp = Blueprint("environments", __name__)
REGISTER_PARTS = {
    "name": {"type": "string"},
    "description": {"type": "string"},
    "conda_spec": {"type": "string", "format": "binary", "description": "a conda YAML file"},
    "pip_requirements": {"type": "string", "format": "binary",
                         "description": "a pip requirements file"},
}
ENV = EnvironmentSchema()
ENVS = EnvironmentSchema(many=True)


def describe(env: EnvironmentVersion, state: str | None = None) -> dict:
    """The wire form of a version, with its build state on this machine."""
    spec = env.spec
    found, _ = build_state(workspace(), spec)
    return {"name": env.name, "version": env.version, "id": env.id, "curated": env.curated,
            "kind": env.kind, "content_hash": env.content_hash, **spec.content(),
            "definition": env.definition, "description": env.description,
            "created_time": env.created_time,
            "build": {"state": state or found, "hash": spec.hash,
                      "log_url": f"/environments/{env.name}/versions/{env.version}/log"}}


def _registration_input() -> dict:
    """JSON {name, conda_spec | pip_requirements}, or multipart: a `name` field and a file part."""
    if request.mimetype == "multipart/form-data":
        data: dict = {k: v for k, v in request.form.items()}
        for key in DEFINITIONS:
            upload = request.files.get(key)
            if upload is not None:
                try:
                    data[key] = upload.read().decode("utf-8")
                except UnicodeDecodeError as err:
                    raise BadRequest(f"The '{key}' file is not UTF-8 text: {err}",
                                     field=key) from err
        return data
    return json_body("{name, conda_spec | pip_requirements} (or multipart/form-data with a "
                     "'name' field and a file part)")


@bp.post("/environments")
@doc("Register a version: same content as the latest version → that version (200), else a new "
     "one (201). Spec errors are 400 with `line` and `reason`.", body=RegisterEnvironmentSchema,
     multipart=REGISTER_PARTS, response=EnvironmentSchema, status=201,
     more={200: EnvironmentSchema}, errors=(400,))
def register():
    fields = load(RegisterEnvironmentSchema(), _registration_input())
    env, created = register_environment(store(), fields)
    return ENV.dump(describe(env)), 201 if created else 200


@bp.get("/environments")
@doc("The latest version of every registered environment, then the curated ones.",
     response=EnvironmentSchema, listing="environments", errors=())
def list_environments():
    found = store().list_environments() + list(curated_environments().values())
    return {"environments": ENVS.dump([describe(e) for e in found])}


@bp.get("/environments/<name>/versions")
@doc("Every version of an environment, newest first.", response=EnvironmentSchema,
     listing="environments", errors=(404,))
def list_versions(name: str):
    curated = curated_environments().get(name)
    found = [curated] if curated is not None else store().list_environments(name)
    return {"environments": ENVS.dump([describe(e) for e in found])}


@bp.get("/environments/<name>/versions/<version>")
@doc("One version (or `latest`) with its build state: NotBuilt, Building, Succeeded, Failed.",
     response=EnvironmentSchema)
def get_environment(name: str, version: str):
    return ENV.dump(describe(find_environment(store(), name, parse_version(version))))


@bp.get("/environments/<name>/versions/<version>/log")
@doc("The build log (of the finished, running or failed build); 404 before any build.",
     response={"type": "string"}, content_type="text/plain")
def get_build_log(name: str, version: str):
    env = find_environment(store(), name, parse_version(version))
    state, path = build_state(workspace(), env.spec)
    text = _read(path) if path is not None else None
    if text is None:
        raise NotFound(f"Environment {env.id} has no build log yet (state {state}).",
                       field="version", state=state)
    return Response(text, mimetype="text/plain", headers={"x-amlocal-build-state": state})


@bp.post("/environments/<name>/versions/<version>/build")
@doc("Build the environment on this machine in the background (202); follow GET …/<version>.",
     response=EnvironmentSchema, status=202)
def build_environment(name: str, version: str):
    env = find_environment(store(), name, parse_version(version))
    state = start_build(workspace(), env.spec)
    return ENV.dump(describe(env, state)), 202


def _read(path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # the build finished or was cleared between the state check and the read
        return None
