"""Container tests: `POST /container-tests` queues one as a tracked run (kind container-test);
its log, metrics and `outputs/report.json` are read through the runs' routes."""
from flask import Blueprint

from .. import containertests
from .context import json_body, store, workspace
from .openapi import doc, load
from .schemas.container_tests import ContainerTestSchema
from .schemas.runs import RunSchema

bp = Blueprint("container_tests", __name__)


@bp.post("/container-tests")
@doc("Test the scoring image a docker/ACI deployment would run: queued as a run whose "
     "outputs/report.json is the report.", body=ContainerTestSchema, response=RunSchema,
     status=202, errors=(400,))
def create():
    body = load(ContainerTestSchema(), json_body("a container test"))
    return RunSchema().dump(containertests.submit(store(), workspace(), body)), 202
