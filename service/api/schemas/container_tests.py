"""Container tests on the wire: what `POST /container-tests` takes (it answers with the run)."""
from marshmallow import Schema, fields, validate

from ...containertests import EXPERIMENT
from .common import FullMatch
from .deployments import MODEL_ID, MODEL_ID_ERROR, InferenceConfigSchema

MAX_ROWS = 10000


def _positive(what: str) -> validate.Range:
    return validate.Range(min=0, min_inclusive=False, error=f"{what} must be positive.")


class ContainerConfigSchema(Schema):
    """The container's resources, as a deployment's deployment_config gives them."""

    cpu_cores = fields.Float(load_default=None, allow_none=True, validate=_positive("cpu_cores"))
    memory_gb = fields.Float(load_default=None, allow_none=True, validate=_positive("memory_gb"))
    worker_count = fields.Integer(load_default=1, validate=validate.Range(
        min=1, max=32, error="must be between 1 and 32."))


class ContainerTestSchema(Schema):
    """A container test: what a deployment would serve, plus the rows and requests to send."""

    models = fields.List(fields.String(validate=FullMatch(MODEL_ID, error=MODEL_ID_ERROR)),
                         required=True, validate=validate.Length(max=100))
    inference_config = fields.Nested(InferenceConfigSchema, load_default=None, allow_none=True)
    deployment_config = fields.Nested(ContainerConfigSchema, load_default=dict)
    data = fields.List(fields.Raw(), load_default=None, allow_none=True,
                       validate=validate.Length(min=1, max=MAX_ROWS), metadata={
                           "description": "rows to replay (lists of values, or objects keyed "
                                          "by feature name)"})
    requests = fields.Integer(load_default=200, validate=validate.Range(min=1, max=10000),
                              metadata={"description": "timed requests at each connection "
                                                       "count (1 and 8)"})
    experiment = fields.String(load_default=EXPERIMENT,
                               validate=validate.Length(min=1, max=255))
    tags = fields.Dict(keys=fields.String(validate=validate.Length(max=100)),
                       values=fields.String(validate=validate.Length(max=1000)),
                       load_default=dict, validate=validate.Length(max=50))
