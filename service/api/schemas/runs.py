"""Runs and experiments on the wire."""
from marshmallow import Schema, fields, validate

from .common import page_url

MAX_OFFSET = 2**63 - 1  # the largest file offset (a larger one is a 400, not an OverflowError)


class RunConfigSchema(Schema):
    """The JSON run config sent beside the snapshot (unknown fields are refused)."""

    script = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    arguments = fields.List(fields.String(), load_default=list)
    environment = fields.Raw(load_default=None, allow_none=True)
    tags = fields.Dict(keys=fields.String(validate=validate.Length(max=100)),
                       values=fields.String(allow_none=True, validate=validate.Length(max=1000)),
                       load_default=dict, validate=validate.Length(max=50))
    timeout_s = fields.Float(load_default=None, allow_none=True,
                             validate=validate.Range(min=0, min_inclusive=False))
    compute_target = fields.String(load_default=None, allow_none=True, metadata={
        "description": "a compute target's name (amlocal compute list); default 'local'"})


class RunErrorSchema(Schema):
    message = fields.String()
    exit_code = fields.Integer(allow_none=True)
    stderr_tail = fields.String()


class RunSchema(Schema):
    id = fields.String()
    experiment = fields.String()
    parent_id = fields.String(allow_none=True)
    kind = fields.String()
    status = fields.String()
    script = fields.String()
    arguments = fields.List(fields.String())
    environment = fields.Raw(allow_none=True)
    tags = fields.Dict()
    properties = fields.Dict()
    snapshot_sha256 = fields.String()
    timeout_s = fields.Float(allow_none=True)
    created_time = fields.String()
    start_time = fields.String(allow_none=True)
    end_time = fields.String(allow_none=True)
    status_times = fields.Dict(keys=fields.String(), values=fields.String())
    error = fields.Nested(RunErrorSchema, allow_none=True)
    cancel_requested = fields.Boolean()
    summary = fields.Dict(allow_none=True)
    url = page_url(lambda run: ("runs", run.id))
    compute_target = fields.String(attribute="compute")


class RunListQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(
        ["NotStarted", "Queued", "Preparing", "Running", "Finalizing", "Completed", "Failed",
         "Canceled"]))
    tag = fields.List(fields.String())
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=100000))
    # Azure's Experiment.get_runs(include_children=False): a sweep's children only when asked.
    include_children = fields.Boolean(load_default=False)


class ExperimentSchema(Schema):
    name = fields.String()
    created_time = fields.String()
    run_count = fields.Integer()
    last_run_time = fields.String(allow_none=True)
    url = page_url(lambda exp: ("experiments", exp["name"]))


class RunLogsQuerySchema(Schema):
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))
    follow = fields.Boolean(load_default=False, metadata={
        "description": "stream until the run ends (text/plain, chunked)"})


class MetricsQuerySchema(Schema):
    name = fields.List(fields.String(validate=validate.Length(min=1, max=255)), load_default=list)


class MetricsSchema(Schema):
    metrics = fields.Dict(keys=fields.String(), required=True)


class RunFileSchema(Schema):
    path = fields.String()
    size = fields.Integer()


class TagsUpdateSchema(Schema):
    add = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                      load_default=dict)
    remove = fields.List(fields.String(), load_default=list)
