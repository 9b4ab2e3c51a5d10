"""Train an SVC on iris as a tracked run, as Azure ML's scikit-learn sample does.

`python train_iris.py [--kernel linear] [--penalty 1.0]` logs `Kernel type`, `Penalty` and
`Accuracy` to the run and saves `outputs/model.joblib`. With the defaults Accuracy is 0.9737
(37 of 38 test samples). The scikit-learn logic is plain functions; only `main` touches the run.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Sequence

import joblib
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC


def split_data(random_state: int = 0) -> dict[str, Any]:
    """Iris split like Azure ML's sample: train_test_split, default test size, random_state=0."""
    features, labels = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(features, labels,
                                                        random_state=random_state)
    return {"train": {"X": x_train, "y": y_train}, "test": {"X": x_test, "y": y_test}}


def train_model(data: dict[str, Any], kernel: str = "linear", penalty: float = 1.0) -> SVC:
    """Fit an SVC with the given kernel and penalty (C) on the training split."""
    return SVC(kernel=kernel, C=penalty).fit(data["train"]["X"], data["train"]["y"])


def evaluate(model: SVC, data: dict[str, Any]) -> dict[str, float]:
    """Accuracy on the test split."""
    return {"Accuracy": float(model.score(data["test"]["X"], data["test"]["y"]))}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The sample's two hyperparameters."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", type=str, default="linear",
                        help="kernel type to be used in the algorithm")
    parser.add_argument("--penalty", type=float, default=1.0, help="penalty parameter (C)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Train, evaluate, log to the run context and save outputs/model.joblib."""
    from azureml.core.run import Run  # the run context exists only where the script runs

    args = parse_args(argv)
    run = Run.get_context()
    run.log("Kernel type", str(args.kernel))
    run.log("Penalty", float(args.penalty))
    data = split_data()
    model = train_model(data, kernel=args.kernel, penalty=args.penalty)
    metrics = evaluate(model, data)
    for name, value in metrics.items():
        run.log(name, value)
    os.makedirs("outputs", exist_ok=True)
    joblib.dump(model, os.path.join("outputs", "model.joblib"))
    print(f"Accuracy: {metrics['Accuracy']:.4f}")
    return metrics


if __name__ == "__main__":
    main()
