"""The iris sample's pure functions give Azure ML's sample figures."""
from __future__ import annotations

from training.train_iris import evaluate, parse_args, split_data, train_model


def test_defaults_give_37_of_38() -> None:
    data = split_data()
    assert len(data["test"]["y"]) == 38 and len(data["train"]["y"]) == 112
    metrics = evaluate(train_model(data), data)
    assert round(metrics["Accuracy"], 4) == 0.9737
    assert round(metrics["Accuracy"] * 38) == 37


def test_arguments() -> None:
    args = parse_args(["--kernel", "rbf", "--penalty", "0.5"])
    assert (args.kernel, args.penalty) == ("rbf", 0.5)
    assert (parse_args([]).kernel, parse_args([]).penalty) == ("linear", 1.0)
    data = split_data()
    assert train_model(data, kernel="rbf", penalty=0.5).get_params()["C"] == 0.5
