"""Parameter expressions: Azure's JSON encoding, the CLI text form, and Azure's validation."""
import math
import random

import pytest

from training.sweeps import SweepConfigError, parse_expression, parse_param_text, parse_param_texts


def test_json_choice_keeps_types_and_order():
    expression = parse_expression("--kernel", ["choice", [["linear", "rbf", 1, 0.5]]])
    assert expression.kind == "choice"
    assert expression.args == ("linear", "rbf", 1, 0.5)
    assert expression.to_json() == ["choice", [["linear", "rbf", 1, 0.5]]]


def test_text_form_turns_numbers_into_numbers():
    name, expression = parse_param_text("--c=choice(0.5,1,1.5)")
    assert name == "--c"
    assert expression.args == (0.5, 1, 1.5)
    assert [type(v) for v in expression.args] == [float, int, float]


def test_text_form_strings_and_quoted_numbers():
    _, expression = parse_param_text("--kernel=choice(linear, rbf ,'3')")
    assert expression.args == ("linear", "rbf", "3")


def test_text_form_uniform_matches_json_form():
    name, expression = parse_param_text("--penalty=uniform(0.5,1.5)")
    assert (name, expression) == ("--penalty", parse_expression("--penalty",
                                                                ["uniform", [0.5, 1.5]]))


def test_param_texts_build_the_api_space():
    space = parse_param_texts(["--kernel=choice(linear,rbf,poly)", "--penalty=uniform(0.5,1.5)"])
    assert space == {"--kernel": ["choice", [["linear", "rbf", "poly"]]],
                     "--penalty": ["uniform", [0.5, 1.5]]}


def test_param_texts_refuse_a_name_twice():
    with pytest.raises(SweepConfigError) as err:
        parse_param_texts(["--c=choice(1,2)", "--c=choice(3)"])
    assert err.value.field == "--c"


def test_duplicate_choice_options_are_one_option():
    assert parse_expression("c", ["choice", [[1, 1, 2]]]).args == (1, 2)


BAD_JSON = [
    pytest.param(["choice", [[]]], "Please specify an input for choice.", id="choice-empty-list"),
    pytest.param(["choice", []], "Please specify an input for choice.", id="choice-no-args"),
    pytest.param(["choice", [[None]]], "choice expects options that are strings or numbers",
                 id="choice-null-option"),
    pytest.param(["choice", [[True]]], "choice expects options that are strings or numbers",
                 id="choice-bool-option"),
    pytest.param(["choice", [1, 2]], "choice expects its options as one list", id="choice-flat"),
    pytest.param(["uniform", [2, 1]], "uniform expects min_value < max_value", id="uniform-2-1"),
    pytest.param(["uniform", [1, 1]], "uniform expects min_value < max_value", id="uniform-equal"),
    pytest.param(["uniform", ["a", 1]], "uniform expects min_value to be a float",
                 id="uniform-string"),
    pytest.param(["uniform", [1]], "uniform expects 2 argument(s)", id="uniform-one-arg"),
    pytest.param(["randint", [0]], "randint expects a positive number as input", id="randint-0"),
    pytest.param(["randint", [2.5]], "randint expects a positive number as input",
                 id="randint-float"),
    pytest.param(["quniform", [0, 10, 1.5]], "quniform expects q to be an int",
                 id="quniform-fractional-q"),
    pytest.param(["quniform", [0, 10, 0]], "quniform expects q > 0", id="quniform-zero-q"),
    pytest.param(["quniform", [5, 5, 1]], "quniform expects min_value < max_value",
                 id="quniform-equal"),
    pytest.param(["qloguniform", [2, 1, 1]], "qloguniform expects min_value <= max_value",
                 id="qloguniform-reversed"),
    pytest.param(["loguniform", [0, 800]], "loguniform expects max_value <= 700",
                 id="loguniform-overflow"),
    pytest.param(["normal", [0, -1]], "normal expects sigma to be non negative",
                 id="normal-negative-sigma"),
    pytest.param(["qnormal", [0, -1, 1]], "qnormal expects sigma to be non negative",
                 id="qnormal-negative-sigma"),
    pytest.param(["qlognormal", [0, 1, 0.5]], "qlognormal expects q to be an int",
                 id="qlognormal-fractional-q"),
    pytest.param(["lognormal", [0, float("nan")]], "lognormal expects sigma to be a float",
                 id="lognormal-nan"),
    pytest.param(["gaussian", [0, 1]], "Unknown parameter expression 'gaussian'",
                 id="unknown-expression"),
    pytest.param(["uniform", 0.5], "uniform expects its arguments as a list", id="args-not-list"),
    pytest.param({"uniform": [0, 1]}, "expects an expression like", id="not-a-list"),
]


@pytest.mark.parametrize("raw, message", BAD_JSON)
def test_bad_json_expressions_name_the_parameter(raw, message):
    with pytest.raises(SweepConfigError) as err:
        parse_expression("--penalty", raw)
    assert err.value.field == "--penalty"
    assert err.value.message.startswith(message)
    assert err.value.to_dict() == {"field": "--penalty", "message": err.value.message}


BAD_TEXT = [
    pytest.param("--kernel=choice()", "Please specify an input for choice.", id="choice-empty"),
    pytest.param("--penalty=uniform(2,1)", "uniform expects min_value < max_value",
                 id="uniform-2-1"),
    pytest.param("--penalty=beta(1,2)", "Unknown parameter expression 'beta'", id="unknown"),
    pytest.param("--penalty=uniform(0.5", "expects an expression like", id="unclosed"),
    pytest.param("--seed=randint(-3)", "randint expects a positive number as input",
                 id="randint-negative"),
]


@pytest.mark.parametrize("text, message", BAD_TEXT)
def test_bad_text_expressions_name_the_parameter(text, message):
    with pytest.raises(SweepConfigError) as err:
        parse_param_text(text)
    assert err.value.field == text.split("=")[0]
    assert err.value.message.startswith(message)


def test_text_without_equals_is_refused():
    with pytest.raises(SweepConfigError, match="NAME=EXPRESSION"):
        parse_param_text("--kernel choice(linear)")


@pytest.mark.parametrize("raw, low, high", [
    pytest.param(["uniform", [0.5, 1.5]], 0.5, 1.5, id="uniform"),
    pytest.param(["loguniform", [0, 1]], 1.0, math.e, id="loguniform"),
    pytest.param(["randint", [4]], 0, 3, id="randint"),
    pytest.param(["quniform", [0, 10, 5]], 0, 10, id="quniform"),
])
def test_samples_fall_within_the_expression(raw, low, high):
    expression = parse_expression("x", raw)
    rng = random.Random(7)
    values = [expression.sample(rng) for _ in range(200)]
    assert all(low <= v <= high for v in values)


def test_quantized_values_are_multiples_of_q():
    expression = parse_expression("x", ["quniform", [0, 10, 5]])
    rng = random.Random(3)
    values = {expression.sample(rng) for _ in range(300)}
    assert values <= {0, 5, 10} and len(values) >= 2
    assert [expression.value_at(i) for i in range(expression.size)] == [0, 5, 10]


def test_normal_is_infinite_and_choice_is_finite():
    assert not parse_expression("x", ["normal", [0, 1]]).finite
    choice = parse_expression("x", ["choice", [["a", "b"]]])
    assert choice.finite and choice.size == 2
