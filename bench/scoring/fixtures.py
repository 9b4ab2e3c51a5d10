"""What every server in the scoring benchmark is given: one iris model, entry scripts, request bodies."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

MODEL_FILE = "model.joblib"
BIG_ROWS = 1000

# The Azure ML sample style: the body arrives as a string, the script parses it itself.
UNDECORATED_SCORE = '''\
import json
import os

import joblib
import numpy as np

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


def run(raw_data):
    data = np.array(json.loads(raw_data)["data"])
    return model.predict(data).tolist()
'''

# The Azure ML sample style with inference-schema: the server hands run() a converted ndarray.
DECORATED_SCORE = '''\
import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


@input_schema("data", NumpyParameterType(np.array([[5.1, 3.5, 1.4, 0.2]])))
@output_schema(NumpyParameterType(np.array([0])))
def run(data):
    return model.predict(data).tolist()
'''

# The floor for a Python scorer: Flask, json in, predict, json out, nothing else.
MINIMAL_FLASK_APP = '''\
import os

import joblib
import numpy as np
from flask import Flask, jsonify, request

model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))
app = Flask(__name__)


@app.get("/")
def health():
    return "Healthy"


@app.post("/score")
def score():
    return jsonify(model.predict(np.array(request.get_json()["data"])).tolist())
'''

# azmlinfsrv 1.5.1 hard-codes gunicorn's bind to 0.0.0.0; the bench may bind loopback only.
AZML_LAUNCHER = '''\
import sys

from azureml_inference_server_http import amlserver

amlserver.DEFAULT_HOST = "127.0.0.1"
sys.exit(amlserver.run())
'''

# wrk runs this per thread; done() prints exact figures (microseconds) as one JSON line.
WRK_LUA = '''\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("%(body)s", "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "status_errors": %%d, "connect_errors": %%d, "read_errors": %%d, ' ..
    '"write_errors": %%d, "timeouts": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
end
'''


@dataclass(frozen=True)
class Fixtures:
    """Paths of everything the servers and wrk read, all under one work folder."""

    workdir: Path
    model_dir: Path          # holds model.joblib only (the no-code entry wants exactly one file)
    mlflow_model_dir: Path   # the same model saved by mlflow.sklearn
    undecorated_score: Path
    decorated_score: Path
    minimal_flask_dir: Path  # holds app.py
    azml_launcher: Path      # runs azmlinfsrv's own entry point bound to 127.0.0.1
    rows_one: list[list[float]]
    rows_big: list[list[float]]
    expected_one: list[int]
    expected_big: list[int]


def train_iris_svc() -> tuple[SVC, np.ndarray]:
    """Train iris SVC(kernel="linear") on the random_state=0 split; return it and the test rows."""
    features, labels = load_iris(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(features, labels, random_state=0)
    model = SVC(kernel="linear")
    model.fit(x_train, y_train)
    return model, x_test


def big_rows(x_test: np.ndarray, count: int = BIG_ROWS) -> np.ndarray:
    """Repeat the test rows until there are `count` of them."""
    repeats = -(-count // len(x_test))
    return np.tile(x_test, (repeats, 1))[:count]


def request_body(kind: str, rows: list[list[float]]) -> dict:
    """The JSON body each server expects for `rows`: `data` for Azure ML and ours, `inputs` for MLflow."""
    if kind == "mlflow":
        return {"inputs": rows}
    if kind == "azureml":
        return {"data": rows}
    raise ValueError(f"unknown body kind {kind!r}")


def write_body_files(workdir: Path, fixtures: Fixtures) -> dict[tuple[str, str], Path]:
    """Write one body file per (body kind, size) and its wrk script; return the lua paths."""
    scripts = {}
    for kind in ("azureml", "mlflow"):
        for size, rows in (("one", fixtures.rows_one), ("big", fixtures.rows_big)):
            body = workdir / f"body-{kind}-{size}.json"
            body.write_text(json.dumps(request_body(kind, rows)), encoding="utf-8")
            lua = workdir / f"post-{kind}-{size}.lua"
            lua.write_text(WRK_LUA % {"body": body}, encoding="utf-8")
            scripts[(kind, size)] = lua
    return scripts


def save_mlflow_model(mlflow_python: Path, model_file: Path, target: Path) -> None:
    """Save the very same fitted model as an MLflow model, using the MLflow venv's interpreter."""
    # skops is MLflow's default format; SVC is in skops' trusted list, so no extra trust is needed.
    code = ("import joblib, mlflow.sklearn, sys; "
            "mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2])")
    subprocess.run([str(mlflow_python), "-c", code, str(model_file), str(target)],
                   check=True, capture_output=True, text=True)


def prepare_fixtures(workdir: Path, mlflow_python: Path | None) -> Fixtures:
    """Train the model once and write every file the servers need under `workdir`."""
    model, x_test = train_iris_svc()
    model_dir = workdir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / MODEL_FILE)
    mlflow_dir = workdir / "mlflow-model"
    if mlflow_python is not None and not mlflow_dir.exists():
        save_mlflow_model(mlflow_python, model_dir / MODEL_FILE, mlflow_dir)
    scripts = workdir / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / "score_undecorated.py").write_text(UNDECORATED_SCORE, encoding="utf-8")
    (scripts / "score_decorated.py").write_text(DECORATED_SCORE, encoding="utf-8")
    (scripts / "azml_loopback.py").write_text(AZML_LAUNCHER, encoding="utf-8")
    flask_dir = workdir / "minimal-flask"
    flask_dir.mkdir(exist_ok=True)
    (flask_dir / "app.py").write_text(MINIMAL_FLASK_APP, encoding="utf-8")
    one, big = x_test[:1], big_rows(x_test)
    return Fixtures(workdir=workdir, model_dir=model_dir, mlflow_model_dir=mlflow_dir,
                    undecorated_score=scripts / "score_undecorated.py",
                    decorated_score=scripts / "score_decorated.py",
                    minimal_flask_dir=flask_dir, azml_launcher=scripts / "azml_loopback.py",
                    rows_one=one.tolist(), rows_big=big.tolist(),
                    expected_one=model.predict(one).tolist(),
                    expected_big=model.predict(big).tolist())
