"""Environments on the wire."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .common import FullMatch

ENV_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}$"
ENV_NAME_ERROR = ("Environment name must be 1 to 255 characters: a letter or digit, then letters, "
                  "digits, '-', '_' or '.'.")
# Azure ML keeps AzureML*/Microsoft* for its curated environments; amlocal's curated are amlocal-*.
RESERVED_PREFIXES = ("AzureML", "Microsoft", "amlocal-")
MAX_SPEC_CHARS = 1_000_000


def _not_reserved(name: str) -> None:
    for prefix in RESERVED_PREFIXES:
        if name.lower().startswith(prefix.lower()):
            raise ValidationError(f"Names starting with {prefix!r} are reserved for curated "
                                  f"environments ({', '.join(RESERVED_PREFIXES)}).")


class RegisterEnvironmentSchema(Schema):
    """POST /environments: a name and the text of a conda YAML or a pip requirements file."""

    name = fields.String(required=True, validate=[FullMatch(ENV_NAME, error=ENV_NAME_ERROR),
                                                  _not_reserved])
    conda_spec = fields.String(validate=validate.Length(max=MAX_SPEC_CHARS))
    pip_requirements = fields.String(validate=validate.Length(max=MAX_SPEC_CHARS))
    description = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=5000))

    @validates_schema
    def _one_definition(self, data, **_kwargs):
        given = [k for k in ("conda_spec", "pip_requirements") if k in data]
        if len(given) != 1:
            raise ValidationError("give exactly one of conda_spec (a conda YAML file's text) or "
                                  "pip_requirements (a requirements file's text)",
                                  field_name="conda_spec")


class BuildSchema(Schema):
    state = fields.String(validate=validate.OneOf(["NotBuilt", "Building", "Succeeded", "Failed"]))
    hash = fields.String()
    log_url = fields.String(allow_none=True)


class EnvironmentSchema(Schema):
    """One version of an environment, with the state of its build on this machine."""

    name = fields.String()
    version = fields.Integer()
    id = fields.String()
    curated = fields.Boolean()
    kind = fields.String()
    content_hash = fields.String()
    python = fields.String(allow_none=True)
    channels = fields.List(fields.String())
    conda = fields.List(fields.String())
    pip = fields.List(fields.String())
    variables = fields.Dict(keys=fields.String(), values=fields.String())
    definition = fields.String()
    description = fields.String(allow_none=True)
    created_time = fields.String(allow_none=True)
    build = fields.Nested(BuildSchema)
