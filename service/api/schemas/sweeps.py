"""Sweeps on the wire: the submit config, the sorted children, the best child."""
from marshmallow import Schema, fields, validate

from .runs import RunConfigSchema, RunSchema


class SweepConfigSchema(RunConfigSchema):
    """A run config plus the sweep's fields (those are validated by training.sweeps)."""

    sampling = fields.Raw(required=True, metadata={"description": "{type: random|grid|bayesian, "
                          "space: {'--name': ['choice', [[...]]] | ['uniform', [lo, hi]] | ...}, "
                          "seed?}"})
    primary_metric = fields.Raw(required=True, metadata={"description": "{name, goal: "
                                                         "maximize|minimize}"})
    max_total_runs = fields.Raw(required=True, metadata={"description": "1..1000"})
    max_concurrent_runs = fields.Raw(allow_none=True, metadata={"description": "1..100"})
    max_duration_minutes = fields.Raw(allow_none=True)
    policy = fields.Raw(allow_none=True, metadata={"description": "{type: bandit|median_stopping|"
                        "truncation_selection, evaluation_interval, delay_evaluation, "
                        "slack_factor|slack_amount|truncation_percentage}"})


class SweepRunSchema(RunSchema):
    """The parent run as submitted, with its stored sweep config and Azure's advisory notes."""

    sweep = fields.Dict()


class ChildSchema(Schema):
    """One child as get_children_sorted_by_primary_metric returns it (`run`: its whole record,
    when asked for with ?runs=true)."""

    run_id = fields.String()
    hyperparameters = fields.Dict()
    best_primary_metric = fields.Float(allow_none=True)
    status = fields.String()
    run = fields.Nested(RunSchema)


class ChildrenSchema(Schema):
    children = fields.List(fields.Nested(ChildSchema))


class BestChildSchema(ChildSchema):
    """The best child (get_best_run_by_primary_metric), always with its whole run record."""


class ChildrenQuerySchema(Schema):
    sort = fields.String(validate=validate.OneOf(["primary_metric"]), load_default=None)
    top = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100000))
    reverse = fields.Boolean(load_default=False)
    discard_no_metric = fields.Boolean(load_default=False)
    runs = fields.Boolean(load_default=False)  # each child's whole run record too (one call, not N)


class BestQuerySchema(Schema):
    include_failed = fields.Boolean(load_default=True)
    include_canceled = fields.Boolean(load_default=True)
