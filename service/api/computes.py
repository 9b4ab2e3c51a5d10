"""Compute targets: add a Ray cluster, list, show (with its nodes and free CPUs), delete."""
from __future__ import annotations

from flask import Blueprint

from ..computes import create_compute, describe
from .context import json_body, store
from .openapi import doc, load
from .schemas.computes import ComputeCreateSchema, ComputeSchema

bp = Blueprint("computes", __name__)
COMPUTE = ComputeSchema()


@bp.post("/computes")
@doc("Add a compute target: a Ray cluster by its dashboard address (it must answer).",
     body=ComputeCreateSchema, response=ComputeSchema, status=201, errors=(400, 409))
def create():
    body = load(ComputeCreateSchema(), json_body("{name, type: ray|local, address?, description?}"))
    target = create_compute(store(), body["name"], body["type"], body["address"],
                            body["description"])
    return COMPUTE.dump(describe(target)), 201


@bp.get("/computes")
@doc("Every compute target, `local` first (without asking the clusters).",
     response=ComputeSchema, listing="computes", errors=())
def list_computes():
    return {"computes": [COMPUTE.dump(describe(c, with_cluster=False))
                         for c in store().list_computes()]}


@bp.get("/computes/<name>")
@doc("One compute target; a cluster's state, nodes and free CPUs, as it says now.",
     response=ComputeSchema, errors=(404,))
def show(name: str):
    return COMPUTE.dump(describe(store().get_compute(name)))


@bp.delete("/computes/<name>")
@doc("Remove a compute target (409 while it has unfinished runs; `local` is built in).",
     response=ComputeSchema, errors=(404, 409))
def delete(name: str):
    target = store().get_compute(name)
    store().delete_compute(name)
    return COMPUTE.dump(describe(target, with_cluster=False))
