"""Models on the wire: registration fields, the version record, list filters, tag/property edits."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ...models import FRAMEWORKS, MODEL_NAME, MODEL_NAME_ERROR
from .common import FullMatch, page_url

FRAMEWORK_VERSION_ERROR = "Model framework version cannot be provided without a valid framework"
MAX_SAMPLE_ROWS = 1000


class StrictNumber(fields.Float):
    """A JSON number: marshmallow's Float would also take "1.5" and true."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("Must be a number, not a string or boolean.")
        return super()._deserialize(value, attr, data, **kwargs)


class ResourceConfigurationSchema(Schema):
    """Azure's ResourceConfiguration(cpu, memory_in_gb, gpu): positive when given."""

    cpu = StrictNumber(allow_none=True, validate=validate.Range(
        min=0, min_inclusive=False, error="Invalid configuration, cpu must be greater than zero."))
    memory_in_gb = StrictNumber(allow_none=True, validate=validate.Range(
        min=0, min_inclusive=False,
        error="Invalid configuration, memory_in_gb must be greater than zero."))
    gpu = fields.Integer(strict=True, allow_none=True, validate=validate.Range(
        min=0, error="Invalid configuration, gpu must be integer and greater than zero."))


_KEY = fields.String(validate=validate.Length(min=1, max=255))
_VALUE = fields.String(validate=validate.Length(max=5000))


class RegisterSchema(Schema):
    """POST /models: from a run (run_id + path) or, in a multipart `config` part, for an upload."""

    name = fields.String(required=True,
                         validate=FullMatch(MODEL_NAME, error=MODEL_NAME_ERROR))
    run_id = fields.String(validate=validate.Length(min=1, max=1024))
    path = fields.String(validate=validate.Length(min=1, max=4096))
    framework = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(
        FRAMEWORKS, error="Must be one of Azure ML's Model.Framework values: {choices}."))
    framework_version = fields.String(load_default=None, allow_none=True,
                                      validate=validate.Length(max=100))
    resource_configuration = fields.Nested(ResourceConfigurationSchema, load_default=None,
                                           allow_none=True)
    tags = fields.Dict(keys=_KEY, values=_VALUE, load_default=dict,
                       validate=validate.Length(max=100))
    properties = fields.Dict(keys=_KEY, values=_VALUE, load_default=dict,
                             validate=validate.Length(max=100))
    description = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=5000))
    sample_input = fields.List(fields.Raw(), load_default=None, allow_none=True,
                               validate=validate.Length(min=1, max=MAX_SAMPLE_ROWS))

    @validates_schema
    def _framework_version_needs_framework(self, data, **kwargs):
        if data.get("framework_version") is not None and data.get("framework") is None:
            raise ValidationError(FRAMEWORK_VERSION_ERROR, "framework_version")

    @validates_schema
    def _sample_rows(self, data, **kwargs):
        for row in data.get("sample_input") or ():
            if not isinstance(row, (list, dict)):
                raise ValidationError("Each row must be a list of values or an object of "
                                      "feature values.", "sample_input")


class ModelFileSchema(Schema):
    path = fields.String()
    size = fields.Integer()
    sha256 = fields.String()


class ModelSchema(Schema):
    """A registered version, as the API answers it."""

    id = fields.String()
    name = fields.String()
    version = fields.Integer()
    framework = fields.String(allow_none=True)
    framework_version = fields.String(allow_none=True)
    resource_configuration = fields.Dict(allow_none=True)
    files = fields.List(fields.Nested(ModelFileSchema))
    run_id = fields.String(allow_none=True)
    experiment = fields.String(allow_none=True)
    run_path = fields.String(allow_none=True)
    tags = fields.Dict()
    properties = fields.Dict()
    description = fields.String(allow_none=True)
    created_time = fields.String()
    environment = fields.Dict(allow_none=True)
    estimator = fields.Dict(allow_none=True)
    sample_input = fields.List(fields.Raw(), allow_none=True)
    url = page_url(lambda model: ("models", model.name, model.version))


class ModelListQuerySchema(Schema):
    """GET /models filters (tag and property: KEY or KEY=VALUE, repeatable, AND-combined)."""

    name = fields.String(validate=FullMatch(MODEL_NAME, error=MODEL_NAME_ERROR))
    tag = fields.List(fields.String(), load_default=list)
    property = fields.List(fields.String(), load_default=list)
    framework = fields.String(validate=validate.OneOf(FRAMEWORKS))
    run_id = fields.String()
    latest = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=100000))


class ModelTagsUpdateSchema(Schema):
    add = fields.Dict(keys=_KEY, values=_VALUE, load_default=dict)
    remove = fields.List(fields.String(), load_default=list)


class ModelPropertiesAddSchema(Schema):
    add = fields.Dict(keys=_KEY, values=_VALUE, required=True,
                      validate=validate.Length(min=1, max=100))
