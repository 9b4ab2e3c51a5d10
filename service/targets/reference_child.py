"""Runs in a child process only: a registered model's own predictions, computed in-process.

Standalone on purpose (it imports nothing of amlocal), so the model's training environment's
interpreter runs it: `python reference.py MODEL_DIR` with `{"rows": [...], "methods": [...]}` on
stdin prints one JSON line `{"predict": [...], ...}` or `{"error": "..."}`. The model file rule is
scoring/nocode.py's: exactly one .joblib/.pkl/.pickle file under the model folder.
"""
from __future__ import annotations

import json
import os
import sys
import warnings

MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle")


def find_model_file(model_dir: str) -> str:
    """The one model file under model_dir; ValueError naming what was found otherwise."""
    found = sorted(os.path.join(root, name) for root, _, names in os.walk(model_dir)
                   for name in names if name.lower().endswith(MODEL_SUFFIXES))
    if len(found) != 1:
        raise ValueError(f"expected exactly one {'/'.join(MODEL_SUFFIXES)} file under the model "
                         f"folder, found {len(found)}: {[os.path.basename(f) for f in found]}")
    return found[0]


def load(path: str):
    """joblib, pickle or dill, as the no-code entry loads them."""
    import joblib

    try:
        return joblib.load(path)
    except Exception:  # noqa: BLE001 - a dill pickle; let its own error speak if that fails too
        import dill  # type: ignore[import-not-found]

        with open(path, "rb") as handle:
            return dill.load(handle)


def frame(model, rows: list):
    """Rows as the estimator takes them: keyed rows or a fitted frame's columns by name."""
    import numpy as np

    names = getattr(model, "feature_names_in_", None)
    if rows and isinstance(rows[0], dict) or names is not None:
        import pandas as pd

        if rows and isinstance(rows[0], dict):
            return pd.DataFrame(rows, columns=list(names) if names is not None else None)
        return pd.DataFrame(rows, columns=list(names))
    return np.asarray(rows)


def plain(value):
    """numpy results as plain JSON values (ints stay ints, floats floats)."""
    return value.tolist() if hasattr(value, "tolist") else value


def main() -> int:
    request = json.loads(sys.stdin.read())
    try:
        model = load(find_model_file(sys.argv[1]))
        x = frame(model, request["rows"])
        answer = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for method in request["methods"]:
                if hasattr(model, method):
                    answer[method] = plain(getattr(model, method)(x))
    except Exception as err:  # noqa: BLE001 - reported to the parent, which decides
        answer = {"error": f"{type(err).__name__}: {err}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
