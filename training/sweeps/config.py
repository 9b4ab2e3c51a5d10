"""Validate a sweep's API body into a `SweepConfig`, with HyperDriveConfig's rules and messages."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from training.sweeps.errors import SweepConfigError
from training.sweeps.expressions import Expression, parse_expression, parse_value

MAX_TOTAL_RUNS = 1000
MAX_CONCURRENT_RUNS = 100
MAX_DURATION_MINUTES = 10080  # Azure's service limit: longer durations are capped to it
GOALS = ("maximize", "minimize")
SAMPLING_TYPES = {"random": "random", "grid": "grid", "bayesian": "bayesian",
                  "bayesianoptimization": "bayesian"}  # Azure's own names are accepted too
SUPPORTED_KINDS = {"grid": ("choice",), "bayesian": ("choice", "quniform", "uniform")}
POLICY_TYPES = {"bandit": "bandit", "medianstopping": "median_stopping",
                "truncationselection": "truncation_selection", "none": "none",
                "default": "none", "notermination": "none"}
POLICY_KEYS = {"bandit": {"slack_factor", "slack_amount"}, "median_stopping": set(),
               "truncation_selection": {"truncation_percentage"}, "none": set()}
_BAYESIAN_QUNIFORM_POINTS = 100_000


@dataclass(frozen=True)
class PrimaryMetric:
    """The metric the sweep optimises, as the script logs it, and its goal."""

    name: str
    goal: str  # "maximize" | "minimize"


@dataclass(frozen=True)
class Sampling:
    """How configurations are drawn: type, the validated space, and the seed (None = random)."""

    type: str  # "random" | "grid" | "bayesian"
    space: dict[str, Expression]
    seed: int | None = None


@dataclass(frozen=True)
class PolicyConfig:
    """An early-termination policy's settings; type "none" never cancels."""

    type: str = "none"
    evaluation_interval: int = 1
    delay_evaluation: int = 0
    slack_factor: float | None = None
    slack_amount: float | None = None
    truncation_percentage: int | None = None


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep; `notes` carries Azure's advisory warnings (e.g. a capped duration)."""

    sampling: Sampling
    primary_metric: PrimaryMetric
    max_total_runs: int
    max_concurrent_runs: int
    max_duration_minutes: int = MAX_DURATION_MINUTES
    policy: PolicyConfig = PolicyConfig()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        """The JSON form, which `parse_sweep_config` reads back to an equal config."""
        policy = {k: v for k, v in vars(self.policy).items() if v is not None}
        sampling: dict[str, Any] = {
            "type": self.sampling.type,
            "space": {name: e.to_json() for name, e in self.sampling.space.items()}}
        if self.sampling.seed is not None:
            sampling["seed"] = self.sampling.seed
        d = {"sampling": sampling,
             "primary_metric": {"name": self.primary_metric.name,
                                "goal": self.primary_metric.goal},
             "max_total_runs": self.max_total_runs,
             "max_concurrent_runs": self.max_concurrent_runs,
             "max_duration_minutes": self.max_duration_minutes,
             "policy": policy}
        if self.max_concurrent_runs > MAX_CONCURRENT_RUNS:
            # Only the default (= max_total_runs) exceeds the bound; given explicitly it is refused.
            del d["max_concurrent_runs"]
        return d


def _expects(obj: str, condition: str) -> str:
    return f"{obj} expects {condition}"


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _mapping(value: Any, name: str, required: bool = True) -> dict:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise SweepConfigError(name, f"Expected an object for {name} but got {_type_name(value)}")
    return value


def _reject_unknown(d: dict, allowed: set[str], prefix: str) -> None:
    for key in d:
        if key not in allowed:
            raise SweepConfigError(f"{prefix}.{key}", f"is not a setting of {prefix}; expected "
                                                      f"one of {', '.join(sorted(allowed))}")


def _int(d: dict, key: str, name: str, default: int | None, lo: int, hi: int | None) -> int:
    value = d.get(key)
    if value is None:  # an explicit null means "the default"
        value = default
    if value is None:
        raise SweepConfigError(name, f"{name} is required")
    if not isinstance(value, int) or isinstance(value, bool):
        raise SweepConfigError(name, f"Expected type int for {key} but got {_type_name(value)}")
    if value < lo or (hi is not None and value > hi):
        bound = f"a value between {lo} and {hi}." if hi is not None else f"a value >= {lo}."
        raise SweepConfigError(name, _expects(key, bound))
    return value


def parse_goal(goal: Any) -> str:
    """Azure's PrimaryMetricGoal.from_str: case-insensitive maximize/minimize, lower-cased."""
    if isinstance(goal, str) and goal.lower() in GOALS:
        return goal.lower()
    raise SweepConfigError("primary_metric.goal",
                           "The primary metric goal expects either 'maximize' or 'minimize'.")


def _parse_primary_metric(raw: Any) -> PrimaryMetric:
    d = _mapping(raw, "primary_metric")
    _reject_unknown(d, {"name", "goal"}, "primary_metric")
    name = d.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SweepConfigError("primary_metric.name", "expects the name of a metric the script "
                                                      "logs with run.log")
    return PrimaryMetric(name=name, goal=parse_goal(d.get("goal")))


def _check_bayesian(name: str, expression: Expression) -> None:
    field_name = f"sampling.space.{name}"
    prefix = "Failed to validate a parameter distribution due to "
    if expression.kind == "choice":
        if 0 < sum(isinstance(o, str) for o in expression.args) < len(expression.args):
            raise SweepConfigError(field_name, prefix + "Either all or none of the 'choice' "
                                                        "values should be 'str' type.")
    if expression.kind == "quniform":
        if any(not isinstance(a, int) for a in expression.args):
            raise SweepConfigError(field_name, prefix + "Expected quniform arguments to be int.")
        lo, hi, q = expression.args
        if (hi - lo) / q > _BAYESIAN_QUNIFORM_POINTS:
            raise SweepConfigError(field_name, prefix + "Too many discrete points for quniform "
                                   "distribution. Use larger q or uniform instead.")


def _parse_sampling(raw: Any) -> Sampling:
    d = _mapping(raw, "sampling")
    _reject_unknown(d, {"type", "space", "seed"}, "sampling")
    kind = d.get("type")
    if not isinstance(kind, str) or kind.lower() not in SAMPLING_TYPES:
        raise SweepConfigError("sampling.type", "expects one of random, grid, bayesian")
    kind = SAMPLING_TYPES[kind.lower()]
    raw_space = _mapping(d.get("space"), "sampling.space")
    if not raw_space:
        raise SweepConfigError("sampling.space", "expects at least one hyperparameter")
    space: dict[str, Expression] = {}
    for name, raw_expression in raw_space.items():
        if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
            raise SweepConfigError("sampling.space", f"{name!r} is not a usable argument name")
        try:
            expression = parse_expression(name, raw_expression)
        except SweepConfigError as err:
            raise err.within("sampling.space") from err
        allowed = SUPPORTED_KINDS.get(kind)
        if allowed and expression.kind not in allowed:
            kinds = ", ".join(allowed)
            raise SweepConfigError(f"sampling.space.{name}", _expects(
                "This sampling method", f"only the following distributions: [{kinds}]"))
        if kind == "bayesian":
            _check_bayesian(name, expression)
        space[name] = expression
    seed = d.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise SweepConfigError("sampling.seed", f"Expected type int for seed but got "
                                                f"{_type_name(seed)}")
    return Sampling(type=kind, space=space, seed=seed)


def _slack(d: dict, key: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise SweepConfigError(f"policy.{key}", _expects(key, "a positive number"))
    return float(value)


def _parse_policy(raw: Any) -> PolicyConfig:
    d = _mapping(raw, "policy", required=False)
    if not d:
        return PolicyConfig()
    kind = d.get("type")
    normal = kind.lower().replace("_", "") if isinstance(kind, str) else None
    if normal not in POLICY_TYPES:
        raise SweepConfigError("policy.type", "expects one of bandit, median_stopping, "
                                              "truncation_selection")
    kind = POLICY_TYPES[normal]
    _reject_unknown(d, {"type", "evaluation_interval", "delay_evaluation"} | POLICY_KEYS[kind],
                    "policy")
    interval = _int(d, "evaluation_interval", "policy.evaluation_interval", 1, 1, None)
    delay = _int(d, "delay_evaluation", "policy.delay_evaluation", 0, 0, None)
    config = PolicyConfig(type=kind, evaluation_interval=interval, delay_evaluation=delay)
    if kind == "bandit":
        factor, amount = _slack(d, "slack_factor"), _slack(d, "slack_amount")
        if (factor is None) == (amount is None):
            raise SweepConfigError("policy.slack_factor", _expects(
                "Bandit termination policy",
                "exactly one of slack factor or slack amount to be set."))
        return PolicyConfig(kind, interval, delay, slack_factor=factor, slack_amount=amount)
    if kind == "truncation_selection":
        value = d.get("truncation_percentage")
        if not isinstance(value, int) or isinstance(value, bool):
            raise SweepConfigError("policy.truncation_percentage", "Expected type int for "
                                   f"truncation_percentage but got {_type_name(value)}")
        if not 1 <= value <= 99:
            raise SweepConfigError("policy.truncation_percentage", _expects(
                "truncation_percentage", "value to be between 1 and 99."))
        return PolicyConfig(kind, interval, delay, truncation_percentage=value)
    return config


_POLICY_TEXT = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_policy_text(text: str) -> dict:
    """The CLI form `bandit(slack_factor=0.1, delay_evaluation=5)` as the API's policy object."""
    match = _POLICY_TEXT.match(text)
    if not match:
        raise SweepConfigError("policy", "expects TYPE or TYPE(name=value, ...), e.g. "
                                         "bandit(slack_factor=0.1)")
    policy: dict[str, Any] = {"type": match.group(1)}
    for item in filter(str.strip, (match.group(2) or "").split(",")):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise SweepConfigError("policy", f"expects name=value settings, got {item.strip()!r}")
        policy[key.strip()] = parse_value(value)
    _parse_policy(policy)  # refuse a bad policy where it was typed, naming the setting
    return policy


def parse_sweep_config(d: dict) -> SweepConfig:
    """Validate the API body's sweep part; raise SweepConfigError naming the field at fault.

    Keys other than the sweep's own (the run config of the body) are left to the caller.
    """
    d = _mapping(d, "body")
    sampling = _parse_sampling(d.get("sampling"))
    metric = _parse_primary_metric(d.get("primary_metric"))
    total = _int(d, "max_total_runs", "max_total_runs", None, 1, MAX_TOTAL_RUNS)
    concurrent = _int(d, "max_concurrent_runs", "max_concurrent_runs", total, 1,
                      max(total, MAX_CONCURRENT_RUNS) if d.get("max_concurrent_runs") is None
                      else MAX_CONCURRENT_RUNS)
    duration = _int(d, "max_duration_minutes", "max_duration_minutes", MAX_DURATION_MINUTES,
                    1, None)
    policy = _parse_policy(d.get("policy"))
    notes: list[str] = []
    if duration > MAX_DURATION_MINUTES:
        notes.append(f"The experiment maximum duration provided exceeds the service limit of "
                     f"{MAX_DURATION_MINUTES} minutes. The maximum duration will be overridden "
                     f"with {MAX_DURATION_MINUTES} minutes.")
        duration = MAX_DURATION_MINUTES
    if sampling.type == "bayesian":
        if policy.type != "none":
            raise SweepConfigError("policy", "Bayesian sampling does not support early "
                                             "termination policies; omit policy")
        notes.extend(_bayesian_notes(len(sampling.space), total, concurrent))
    return SweepConfig(sampling=sampling, primary_metric=metric, max_total_runs=total,
                       max_concurrent_runs=concurrent, max_duration_minutes=duration,
                       policy=policy, notes=tuple(notes))


def _bayesian_notes(parameters: int, total: int, concurrent: int) -> list[str]:
    # Azure's advisory warnings for Bayesian sampling, kept as text for the API to show.
    notes = []
    if total < 20 * parameters:
        notes.append("For best results with Bayesian Sampling we recommend using a maximum "
                     "number of runs greater than or equal to 20 times the number of "
                     f"hyperparameters being tuned. Recommended value: {20 * parameters}.")
    if concurrent > 20:
        notes.append("We recommend using 20 max concurrent runs or fewer when using Bayesian "
                     "sampling since a higher number might not provide the best result.")
    return notes
