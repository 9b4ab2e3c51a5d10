"""Compute targets on the wire."""
from marshmallow import Schema, fields, validate


class ComputeCreateSchema(Schema):
    """POST /computes: a name, the type and, for a Ray cluster, its dashboard address."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    type = fields.String(load_default="ray", metadata={
        "description": "ray (a Ray cluster), or local (another name for amlocal's agent: what "
                       "an Azure AmlCompute cluster becomes)"})
    address = fields.String(load_default="", validate=validate.Length(max=2000),
                            metadata={"description": "ray: the Ray dashboard, http://HOST:8265"})
    description = fields.String(load_default="", validate=validate.Length(max=5000))


class NodeSchema(Schema):
    node_id = fields.String()
    ip = fields.String(allow_none=True)
    head = fields.Boolean(allow_none=True)
    state = fields.String(allow_none=True)
    cpus = fields.Float()
    message = fields.String(allow_none=True)


class ComputeSchema(Schema):
    """A target; a cluster's state, nodes and CPUs when it was asked for one (GET /computes/<n>)."""

    name = fields.String()
    type = fields.String()
    address = fields.String(allow_none=True)
    description = fields.String()
    created_time = fields.String(allow_none=True)
    state = fields.String(metadata={"description": "Ready, NoNodes or Unreachable"})
    message = fields.String()
    ray_version = fields.String()
    nodes = fields.List(fields.Nested(NodeSchema))
    cpus_total = fields.Float()
    cpus_free = fields.Float()
    answered_in_ms = fields.Float()
