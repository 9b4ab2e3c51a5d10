"""Schemas every resource shares, and the one pattern validator."""
from typing import Any, Callable
from urllib.parse import quote

from flask import has_request_context, request
from marshmallow import Schema, ValidationError, fields, validate


def page_url(obj_path: Callable[[Any], tuple]) -> fields.Function:
    """A resource's dashboard page (service/dashboard), absolute on the host the client asked."""
    def url(obj: Any) -> str | None:
        if not has_request_context():
            return None
        return request.host_url + "ui/" + "/".join(quote(str(p), safe="") for p in obj_path(obj))
    return fields.Function(url, dump_only=True, allow_none=True,
                           metadata={"type": "string", "description": "the dashboard's page"})


class FullMatch(validate.Regexp):
    """validate.Regexp on the whole value: with `re.match`, a pattern ending in `$` lets
    "name\\n" through. The pattern still goes into the OpenAPI document (apispec reads it)."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class ErrorBodySchema(Schema):
    """What every error says (service/errors.py: error_body); a detail an error adds is declared
    here, or the answer disagrees with the document."""

    status = fields.Integer(required=True)
    message = fields.String(required=True)
    field = fields.String(metadata={"description": "the field, parameter or header at fault"})
    request_id = fields.String(allow_none=True)
    errors = fields.Dict(metadata={"description": "a refused body or query: every invalid field "
                                                  "with its reasons, as marshmallow reports them "
                                                  "(`message` and `field` name the first)"})
    line = fields.Integer(allow_none=True, metadata={"description": "an environment spec's line"})
    reason = fields.String(metadata={"description": "why an environment spec is refused"})
    state = fields.String(metadata={"description": "an environment's build state"})
    run_status = fields.String(metadata={"description": "the status of a run that cannot be "
                                                        "registered from, or logged to"})
    metric = fields.String(metadata={"description": "a sweep's primary metric no child logged"})
    keys = fields.List(fields.String(), metadata={"description": "properties that already exist"})
    deployments = fields.List(fields.String(), metadata={"description": "the deployments using "
                                                                       "a model version"})


class ErrorSchema(Schema):
    """The one error shape: {"error": {...}}."""

    error = fields.Nested(ErrorBodySchema, required=True)


class HealthSchema(Schema):
    status = fields.String(required=True)
    version = fields.String(required=True)
