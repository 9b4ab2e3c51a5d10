"""What a run records about itself over HTTP (through its run token, or the workspace's)."""
from marshmallow import Schema, fields, validate

from .common import FullMatch

METRIC_KINDS = ("scalar", "list", "row", "table", "image")
TERMINAL = ("Completed", "Failed", "Canceled")


class MetricSchema(Schema):
    """One logged value, as run.log / log_list / log_row / log_table send it."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    kind = fields.String(load_default="scalar", validate=validate.OneOf(METRIC_KINDS))
    value = fields.Raw(required=True, allow_none=True, metadata={
        "description": "scalar: a number, string, boolean or null; list: a list; row: "
                       "{column: value}; table: {column: [values]}; image: the run file's "
                       "aml:// location (run.log_image)"})
    step = fields.Integer(load_default=None, allow_none=True,
                          validate=validate.Range(min=-(2**63), max=2**63 - 1))
    description = fields.String(load_default="", validate=validate.Length(max=1000))


class MetricsLogSchema(Schema):
    """POST /runs/<id>/metrics: up to 250 values per request (Azure's batch limit)."""

    metrics = fields.List(fields.Nested(MetricSchema), required=True,
                          validate=validate.Length(min=1, max=250))


class MetricsLoggedSchema(Schema):
    logged = fields.Integer(required=True)


class PropertiesAddSchema(Schema):
    """PATCH /runs/<id>/properties: properties are add-only (an existing key never changes)."""

    add = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=100)),
                      values=fields.String(validate=validate.Length(max=1000)), required=True,
                      validate=validate.Length(max=50))


class UploadedFileSchema(Schema):
    path = fields.String(required=True)
    size = fields.Integer(required=True)


class ChildRunCreateSchema(Schema):
    """POST /runs/<id>/children: Azure's run.child_run(name=None, run_id=None)."""

    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
    run_id = fields.String(load_default=None, allow_none=True,
                           validate=FullMatch(r"[a-zA-Z0-9][\w\-.]{0,255}"))
    tags = fields.Dict(keys=fields.String(validate=validate.Length(max=100)),
                       values=fields.String(allow_none=True, validate=validate.Length(max=1000)),
                       load_default=dict, validate=validate.Length(max=50))


class ChildStatusSchema(Schema):
    """POST /runs/<id>/status: end a child run, or ask for a script run's final status."""

    status = fields.String(required=True, validate=validate.OneOf(TERMINAL))
    message = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=3000))
    code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
