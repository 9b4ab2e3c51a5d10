"""Deployments on the wire: what a client sends (validated) and what it gets back."""
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from .common import FullMatch, page_url

TARGETS = ("local", "docker", "aci")
SERVICE_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
SERVICE_NAME_ERROR = ("Error, provided service name is invalid. It must only consist of lowercase "
                      "letters, numbers, or dashes, start with a letter, end with a letter or "
                      "number, and be between 3 and 32 characters long.")
MODEL_ID = r"^[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}:([0-9]{1,18}|latest)$"  # an int SQLite holds
MODEL_ID_ERROR = "must be 'name:version' (a registered model name and a version number)."
MAX_INLINE_SOURCE_BYTES = 5 * 1024 * 1024
BATCH_ROWS = validate.Range(min=1, max=100000, error="must be between 1 (batching off) and 100000.")
LATENCY_MS = validate.Range(min=1, max=60000, error="must be between 1 and 60000.")


def _positive(what: str) -> validate.Range:
    return validate.Range(min=0, min_inclusive=False,
                          error=f"Invalid configuration, {what} must be positive.")


class SourceSchema(Schema):
    """Where the entry script comes from: a run's snapshot, or files sent inline."""

    run_id = fields.String(validate=validate.Length(min=1, max=300))
    files = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=1024)),
                        values=fields.String(), validate=validate.Length(min=1, max=1000))

    @validates_schema
    def _one_source(self, data, **_kwargs):
        if ("run_id" in data) == ("files" in data):
            raise ValidationError("give exactly one of run_id (a run's snapshot) or files "
                                  "(path → text).")
        size = sum(len(v.encode()) for v in data.get("files", {}).values())
        if size > MAX_INLINE_SOURCE_BYTES:
            raise ValidationError(f"inline files total {size} bytes; at most "
                                  f"{MAX_INLINE_SOURCE_BYTES} allowed.", field_name="files")


class InferenceConfigSchema(Schema):
    entry_script = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    source = fields.Nested(SourceSchema, required=True)
    environment = fields.Raw(load_default=None, allow_none=True)


class DeploymentConfigSchema(Schema):
    target = fields.String(load_default="local", validate=validate.OneOf(
        TARGETS, error="must be one of: local, docker, aci."))
    cpu_cores = fields.Float(load_default=None, allow_none=True, validate=_positive("cpu_cores"))
    memory_gb = fields.Float(load_default=None, allow_none=True, validate=_positive("memory_gb"))
    auth_enabled = fields.Boolean(load_default=False)
    port = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(
        min=1, max=65535, error="Invalid configuration, port must be an integer in range "
                                "[1, 65535]"))
    worker_count = fields.Integer(load_default=1, validate=validate.Range(
        min=1, max=32, error="must be between 1 and 32."))
    # the scoring server's micro-batching (None: its defaults; README "The scoring server")
    max_batch_rows = fields.Integer(load_default=None, allow_none=True, validate=BATCH_ROWS)
    max_latency_ms = fields.Integer(load_default=None, allow_none=True, validate=LATENCY_MS)


class CreateDeploymentSchema(Schema):
    name = fields.String(required=True, validate=[
        validate.Length(min=3, max=32, error=SERVICE_NAME_ERROR),
        FullMatch(SERVICE_NAME, error=SERVICE_NAME_ERROR)])
    models = fields.List(fields.String(validate=FullMatch(MODEL_ID, error=MODEL_ID_ERROR)),
                         required=True)
    inference_config = fields.Nested(InferenceConfigSchema, load_default=None, allow_none=True)
    deployment_config = fields.Nested(DeploymentConfigSchema, required=True)
    overwrite = fields.Boolean(load_default=False)
    dry_run = fields.Boolean(load_default=False)

    @pre_load
    def _default_config(self, data, **_kwargs):
        # the nested schema's own defaults apply only when it loads something
        if isinstance(data, dict) and data.get("deployment_config") is None:
            data = {**data, "deployment_config": {}}
        return data


class UpdateDeploymentSchema(Schema):
    models = fields.List(fields.String(validate=FullMatch(MODEL_ID, error=MODEL_ID_ERROR)))
    inference_config = fields.Nested(InferenceConfigSchema, allow_none=True)
    worker_count = fields.Integer(validate=validate.Range(min=1, max=32,
                                                          error="must be between 1 and 32."))
    max_batch_rows = fields.Integer(allow_none=True, validate=BATCH_ROWS)
    max_latency_ms = fields.Integer(allow_none=True, validate=LATENCY_MS)
    auth_enabled = fields.Boolean()

    @validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ValidationError("No parameters provided to update.")


class RegenerateKeySchema(Schema):
    key = fields.String(required=True)


class LogsQuerySchema(Schema):
    lines = fields.Integer(load_default=5000, validate=validate.Range(min=1, max=100000))


class HistoryEntrySchema(Schema):
    generation = fields.Integer()
    models = fields.List(fields.String())
    entry_script = fields.String(allow_none=True)
    worker_count = fields.Integer(allow_none=True)
    reason = fields.String()
    requested_time = fields.String()
    served_time = fields.String(allow_none=True)
    ended_time = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)


class DeploymentSchema(Schema):
    name = fields.String()
    state = fields.String()
    target = fields.String()
    compute_type = fields.String()
    models = fields.List(fields.String())
    entry_script = fields.String(allow_none=True)
    worker_count = fields.Integer()
    max_batch_rows = fields.Integer(allow_none=True)
    max_latency_ms = fields.Integer(allow_none=True)
    cpu_cores = fields.Float(allow_none=True)
    memory_gb = fields.Float(allow_none=True)
    port = fields.Integer()
    scoring_uri = fields.String(allow_none=True)
    swagger_uri = fields.String(allow_none=True)
    auth_enabled = fields.Boolean()
    error = fields.String(allow_none=True)
    generation = fields.Integer()
    served_generation = fields.Integer(allow_none=True)
    created_time = fields.String()
    updated_time = fields.String()
    history = fields.List(fields.Nested(HistoryEntrySchema))
    url = page_url(lambda dep: ("deployments", dep["name"]))


class KeysSchema(Schema):
    primary_key = fields.String()
    secondary_key = fields.String()


class DryRunSchema(Schema):
    """`dry_run: true`: what would be sent to ACI, nothing deployed."""

    dry_run = fields.Dict(required=True)


class DeletedSchema(Schema):
    name = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(["Deleted"]))
