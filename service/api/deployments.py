"""Deployments: create, list, show, logs, update, rollback, delete, keys."""
from flask import Blueprint, Response, request

from .. import deployments
from .context import json_body, store, workspace
from .openapi import doc, load
from .schemas.deployments import (CreateDeploymentSchema, DeletedSchema, DeploymentSchema,
                                  DryRunSchema, KeysSchema, LogsQuerySchema, RegenerateKeySchema,
                                  UpdateDeploymentSchema)

bp = Blueprint("deployments", __name__)
DEPLOYMENT = DeploymentSchema()


def _body() -> dict:
    return json_body("a JSON object")


@bp.post("/deployments")
@doc("Deploy models (no-code, or with an inference config) to a target.",
     body=CreateDeploymentSchema, response=DeploymentSchema, status=202,
     more={200: DryRunSchema}, errors=(400, 409))
def create():
    body = load(CreateDeploymentSchema(), _body())
    if body["dry_run"]:
        return {"dry_run": deployments.dry_run_aci(store(), workspace(), body)}
    return DEPLOYMENT.dump(deployments.to_view(deployments.create(store(), body))), 202


@bp.get("/deployments")
@doc("List deployments.", response=DeploymentSchema, listing="deployments", errors=())
def list_deployments():
    return {"deployments": [DEPLOYMENT.dump(deployments.to_view(d))
                            for d in store().list_deployments()]}


@bp.get("/deployments/<name>")
@doc("Show a deployment: state, scoring URI, history.", response=DeploymentSchema, errors=(404,))
def show(name: str):
    return DEPLOYMENT.dump(deployments.to_view(store().get_deployment(name)))


@bp.get("/deployments/<name>/logs")
@doc("The scoring server's log (last N lines).", query=LogsQuerySchema,
     response={"type": "string"}, content_type="text/plain")
def logs(name: str):
    query = load(LogsQuerySchema(), request.args.to_dict())
    text = deployments.logs(workspace(), store().get_deployment(name), query["lines"])
    return Response(text, mimetype="text/plain")


@bp.patch("/deployments/<name>")
@doc("Update models, worker count or auth; served without a dropped request.",
     body=UpdateDeploymentSchema, response=DeploymentSchema, status=202, errors=(400, 404, 409))
def update(name: str):
    store().get_deployment(name)
    body = load(UpdateDeploymentSchema(), _body())
    return DEPLOYMENT.dump(deployments.to_view(deployments.update(store(), name, body))), 202


@bp.post("/deployments/<name>/rollback")
@doc("Go back to what was served before, the same way as an update.",
     response=DeploymentSchema, status=202, errors=(404, 409))
def rollback(name: str):
    return DEPLOYMENT.dump(deployments.to_view(deployments.rollback(store(), name))), 202


@bp.delete("/deployments/<name>")
@doc("Delete: stop the server, free the port; answers once it is gone (202 with the deployment "
     "if it is still going after 2 minutes).", response=DeletedSchema,
     more={202: DeploymentSchema}, errors=(404,))
def delete(name: str):
    if deployments.delete(store(), name):
        return {"name": name, "state": "Deleted"}
    return DEPLOYMENT.dump(deployments.to_view(store().get_deployment(name))), 202


@bp.get("/deployments/<name>/keys")
@doc("The primary and secondary scoring keys.", response=KeysSchema, errors=(404, 409))
def get_keys(name: str):
    return deployments.keys(store(), name)


@bp.post("/deployments/<name>/keys/regenerate")
@doc("Regenerate the Primary or Secondary key; the other keeps working.",
     body=RegenerateKeySchema, response=KeysSchema, status=202, errors=(400, 404, 409))
def regenerate_key(name: str):
    body = load(RegenerateKeySchema(), _body())
    deployments.regenerate_key(store(), name, body["key"])
    return deployments.keys(store(), name), 202
