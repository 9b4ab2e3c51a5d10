"""GET /health (open) and GET /openapi.json."""
from flask import Blueprint, current_app

from .openapi import build_spec, doc
from .schemas.common import HealthSchema

bp = Blueprint("health", __name__)
VERSION = "0.1.0"


@bp.get("/health")
@doc("Liveness probe; needs no token.", response=HealthSchema, errors=())
def health():
    return {"status": "ok", "version": VERSION}


@bp.get("/openapi.json")
@doc("This API's OpenAPI 3 document.", response={"type": "object"}, errors=())
def openapi():
    if "OPENAPI" not in current_app.config:
        current_app.config["OPENAPI"] = build_spec(current_app)
    return current_app.config["OPENAPI"]
