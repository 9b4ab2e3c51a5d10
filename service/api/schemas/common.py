"""Schemas every resource shares."""
from marshmallow import Schema, fields


class ErrorBodySchema(Schema):
    status = fields.Integer(required=True)
    message = fields.String(required=True)
    field = fields.String()
    request_id = fields.String(allow_none=True)


class ErrorSchema(Schema):
    """The one error shape: {"error": {...}}."""

    error = fields.Nested(ErrorBodySchema, required=True)


class HealthSchema(Schema):
    status = fields.String(required=True)
    version = fields.String(required=True)
