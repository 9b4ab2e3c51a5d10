"""The sweep body's validation: HyperDriveConfig's rules, each error naming its field."""
import copy

import pytest

from training.sweeps import SweepConfigError, parse_policy_text, parse_sweep_config

NOTEBOOK = {
    "sampling": {"type": "random",
                 "space": {"--kernel": ["choice", [["linear", "rbf", "poly", "sigmoid"]]],
                           "--penalty": ["choice", [[0.5, 1, 1.5]]]},
                 "seed": 42},
    "primary_metric": {"name": "Accuracy", "goal": "maximize"},
    "max_total_runs": 12,
    "max_concurrent_runs": 4,
}


def body(**changes):
    """The notebook's sweep with dotted-path changes applied (None deletes the key)."""
    d = copy.deepcopy(NOTEBOOK)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = d
        for key in parents:
            target = target.setdefault(key, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return d


def test_the_notebook_sweep_is_valid():
    config = parse_sweep_config(body())
    assert config.sampling.type == "random" and config.sampling.seed == 42
    assert list(config.sampling.space) == ["--kernel", "--penalty"]
    assert config.primary_metric.name == "Accuracy" and config.primary_metric.goal == "maximize"
    assert (config.max_total_runs, config.max_concurrent_runs) == (12, 4)
    assert config.max_duration_minutes == 10080
    assert config.policy.type == "none"
    assert config.notes == ()


def test_defaults_and_case_insensitive_goal():
    config = parse_sweep_config(body(max_concurrent_runs=None, primary_metric__goal="MINIMIZE"))
    assert config.max_concurrent_runs == 12
    assert config.primary_metric.goal == "minimize"


def test_config_round_trips_through_its_dict():
    config = parse_sweep_config(body(policy={"type": "bandit", "slack_factor": 0.1,
                                             "evaluation_interval": 2}))
    assert parse_sweep_config(config.to_dict()) == config


def test_space_accepts_the_text_form():
    config = parse_sweep_config(body(sampling__space={"--penalty": "uniform(0.5, 1.5)"}))
    assert config.sampling.space["--penalty"].to_json() == ["uniform", [0.5, 1.5]]


def test_duration_over_the_limit_is_capped_with_a_note():
    config = parse_sweep_config(body(max_duration_minutes=20000))
    assert config.max_duration_minutes == 10080
    assert "10080 minutes" in config.notes[0]


def test_bayesian_gets_azures_advice_as_notes():
    config = parse_sweep_config(body(sampling__type="bayesian"))
    assert "20 times the number of hyperparameters" in config.notes[0]


@pytest.mark.parametrize("policy, expected", [
    pytest.param({"type": "bandit", "slack_amount": 0.2, "delay_evaluation": 5}, "bandit",
                 id="bandit-amount"),
    pytest.param({"type": "MedianStopping"}, "median_stopping", id="azure-name"),
    pytest.param({"type": "truncation_selection", "truncation_percentage": 20},
                 "truncation_selection", id="truncation"),
])
def test_policies_are_accepted(policy, expected):
    assert parse_sweep_config(body(policy=policy)).policy.type == expected


BAD = [
    pytest.param(dict(sampling__space={"--k": ["foo", [1]]}), "sampling.space.--k",
                 "Unknown parameter expression 'foo'", id="unknown-expression"),
    pytest.param(dict(sampling__space={"--p": ["uniform", [2, 1]]}), "sampling.space.--p",
                 "uniform expects min_value < max_value", id="uniform-2-1"),
    pytest.param(dict(sampling__space={"--k": ["choice", [[]]]}), "sampling.space.--k",
                 "Please specify an input for choice.", id="choice-empty"),
    pytest.param(dict(sampling__space={}), "sampling.space",
                 "expects at least one hyperparameter", id="space-empty"),
    pytest.param(dict(sampling__space={"--p": ["uniform", [0, 1]]}, sampling__type="grid"),
                 "sampling.space.--p", "This sampling method expects only the following "
                 "distributions: [choice]", id="grid-with-uniform"),
    pytest.param(dict(sampling__space={"--p": ["normal", [0, 1]]}, sampling__type="bayesian"),
                 "sampling.space.--p", "This sampling method expects only the following "
                 "distributions: [choice, quniform, uniform]", id="bayesian-with-normal"),
    pytest.param(dict(sampling__space={"--c": ["choice", [["a", 1]]]},
                      sampling__type="bayesian"), "sampling.space.--c",
                 "Failed to validate a parameter distribution due to Either all or none",
                 id="bayesian-mixed-choice"),
    pytest.param(dict(sampling__space={"--q": ["quniform", [0, 1.5, 1]]},
                      sampling__type="bayesian"), "sampling.space.--q",
                 "Failed to validate a parameter distribution due to Expected quniform "
                 "arguments to be int.", id="bayesian-float-quniform"),
    pytest.param(dict(sampling__space={"--q": ["quniform", [0, 10**6, 1]]},
                      sampling__type="bayesian"), "sampling.space.--q",
                 "Failed to validate a parameter distribution due to Too many discrete points",
                 id="bayesian-huge-quniform"),
    pytest.param(dict(sampling__type="bayesian", policy={"type": "bandit", "slack_factor": 0.1}),
                 "policy", "Bayesian sampling does not support early termination",
                 id="bayesian-with-policy"),
    pytest.param(dict(sampling__type="sobol"), "sampling.type", "expects one of random",
                 id="sampling-type-unknown"),
    pytest.param(dict(sampling__seed="7"), "sampling.seed", "Expected type int for seed",
                 id="seed-string"),
    pytest.param(dict(sampling__order="asc"), "sampling.order", "is not a setting of sampling",
                 id="sampling-unknown-key"),
    pytest.param(dict(sampling=None), "sampling", "Expected an object for sampling",
                 id="sampling-missing"),
    pytest.param(dict(primary_metric__goal="maximise"), "primary_metric.goal",
                 "The primary metric goal expects either 'maximize' or 'minimize'.",
                 id="goal-maximise"),
    pytest.param(dict(primary_metric__goal=None), "primary_metric.goal",
                 "The primary metric goal expects either", id="goal-missing"),
    pytest.param(dict(primary_metric__name=""), "primary_metric.name",
                 "expects the name of a metric", id="metric-name-empty"),
    pytest.param(dict(max_total_runs=None), "max_total_runs", "max_total_runs is required",
                 id="total-missing"),
    pytest.param(dict(max_total_runs=0), "max_total_runs",
                 "max_total_runs expects a value between 1 and 1000.", id="total-0"),
    pytest.param(dict(max_total_runs=1001), "max_total_runs",
                 "max_total_runs expects a value between 1 and 1000.", id="total-1001"),
    pytest.param(dict(max_total_runs=12.0), "max_total_runs",
                 "Expected type int for max_total_runs but got float", id="total-float"),
    pytest.param(dict(max_total_runs=True), "max_total_runs",
                 "Expected type int for max_total_runs but got bool", id="total-bool"),
    pytest.param(dict(max_concurrent_runs=0), "max_concurrent_runs",
                 "max_concurrent_runs expects a value between 1 and 100.", id="concurrent-0"),
    pytest.param(dict(max_concurrent_runs=101), "max_concurrent_runs",
                 "max_concurrent_runs expects a value between 1 and 100.", id="concurrent-101"),
    pytest.param(dict(max_duration_minutes=0), "max_duration_minutes",
                 "max_duration_minutes expects a value >= 1.", id="duration-0"),
    pytest.param(dict(policy={"type": "hyperband"}), "policy.type", "expects one of bandit",
                 id="policy-unknown"),
    pytest.param(dict(policy={"type": "bandit"}), "policy.slack_factor",
                 "Bandit termination policy expects exactly one of slack factor or slack "
                 "amount to be set.", id="bandit-no-slack"),
    pytest.param(dict(policy={"type": "bandit", "slack_factor": 0.1, "slack_amount": 0.2}),
                 "policy.slack_factor", "Bandit termination policy expects exactly one",
                 id="bandit-both-slacks"),
    pytest.param(dict(policy={"type": "bandit", "slack_factor": -0.1}), "policy.slack_factor",
                 "slack_factor expects a positive number", id="bandit-negative-factor"),
    pytest.param(dict(policy={"type": "bandit", "slack_factor": 0.1,
                              "evaluation_interval": 1.5}), "policy.evaluation_interval",
                 "Expected type int for evaluation_interval but got float",
                 id="interval-float"),
    pytest.param(dict(policy={"type": "median_stopping", "delay_evaluation": "5"}),
                 "policy.delay_evaluation", "Expected type int for delay_evaluation but got str",
                 id="delay-string"),
    pytest.param(dict(policy={"type": "median_stopping", "evaluation_interval": 0}),
                 "policy.evaluation_interval", "evaluation_interval expects a value >= 1.",
                 id="interval-0"),
    pytest.param(dict(policy={"type": "median_stopping", "slack_factor": 0.1}),
                 "policy.slack_factor", "is not a setting of policy", id="median-with-slack"),
    pytest.param(dict(policy={"type": "truncation_selection", "truncation_percentage": 100}),
                 "policy.truncation_percentage",
                 "truncation_percentage expects value to be between 1 and 99.",
                 id="truncation-100"),
    pytest.param(dict(policy={"type": "truncation_selection", "truncation_percentage": 0}),
                 "policy.truncation_percentage",
                 "truncation_percentage expects value to be between 1 and 99.",
                 id="truncation-0"),
    pytest.param(dict(policy={"type": "truncation_selection", "truncation_percentage": 20.5}),
                 "policy.truncation_percentage",
                 "Expected type int for truncation_percentage but got float",
                 id="truncation-float"),
    pytest.param(dict(policy="bandit"), "policy", "Expected an object for policy",
                 id="policy-string"),
]


@pytest.mark.parametrize("changes, field, message", BAD)
def test_bad_bodies_name_the_field_and_reason(changes, field, message):
    with pytest.raises(SweepConfigError) as err:
        parse_sweep_config(body(**changes))
    assert err.value.field == field
    assert err.value.message.startswith(message), err.value.message
    assert err.value.status == 400


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(SweepConfigError) as err:
        parse_sweep_config(["sampling"])  # type: ignore[arg-type]
    assert err.value.field == "body"


@pytest.mark.parametrize("text, expected", [
    pytest.param("bandit(slack_factor=0.1, evaluation_interval=2)",
                 {"type": "bandit", "slack_factor": 0.1, "evaluation_interval": 2}, id="bandit"),
    pytest.param("median_stopping", {"type": "median_stopping"}, id="bare-type"),
    pytest.param("truncation_selection(truncation_percentage=20)",
                 {"type": "truncation_selection", "truncation_percentage": 20}, id="truncation"),
])
def test_policy_text_form(text, expected):
    assert parse_policy_text(text) == expected
    assert parse_sweep_config(body(policy=expected)).policy.type == expected["type"]


@pytest.mark.parametrize("text, field", [
    pytest.param("bandit(slack_factor)", "policy", id="setting-without-value"),
    pytest.param("bandit", "policy.slack_factor", id="bandit-without-slack"),
    pytest.param("truncation_selection(truncation_percentage=100)",
                 "policy.truncation_percentage", id="truncation-100"),
    pytest.param("bandit[0.1]", "policy", id="not-the-form"),
])
def test_bad_policy_text_names_the_field(text, field):
    with pytest.raises(SweepConfigError) as err:
        parse_policy_text(text)
    assert err.value.field == field
