"""Azure's own samples (SOURCES.md) through the real service on 127.0.0.1, driven by the `amlocal`
CLI as the README tells a user: register, deploy, send the sample's request."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.conftest import TOKEN, Service, free_port
from tests.samples.notebooks import SAMPLES, notebook_cell

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def service(tmp_path):
    svc = Service(tmp_path / "ws", free_port()).start()
    yield svc
    svc.stop()


def amlocal(service: Service, *args: str, timeout: float = 900, ok: bool = True) -> dict | str:
    """Run `amlocal ... --json` against the service: the parsed output, or (ok=False) its stderr
    once it has failed."""
    env = {**os.environ, "AMLOCAL_URL": service.url, "AMLOCAL_API_TOKEN": TOKEN}
    done = subprocess.run([sys.executable, "-m", "service.cli", *args, "--json"], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=timeout)
    assert (done.returncode == 0) == ok, f"amlocal {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return json.loads(done.stdout) if ok else done.stderr


def test_deploy_to_cloud_notebook_dill_model_scores_with_no_code(service, tmp_path):
    """Azure's model-register-and-deploy notebook: Ridge saved with dill.dump, registered as
    ScikitLearn with its framework version and resources, deployed without an InferenceConfig."""
    import sklearn
    from sklearn.datasets import load_diabetes
    notebook = SAMPLES / "deploy-to-cloud" / "model-register-and-deploy.ipynb"
    subprocess.run([sys.executable, "-c", notebook_cell(notebook, "dill.dump(")], cwd=tmp_path, check=True,
                   timeout=120)
    model_file = tmp_path / "sklearn_regression_model.pkl"
    assert b"dill" in model_file.read_bytes()  # really a dill pickle: it names dill's own helpers

    model = amlocal(service, "model", "register", "--file", str(model_file), "--name", "my-sklearn-model",
                    "--framework", "ScikitLearn", "--framework-version", sklearn.__version__, "--cpu", "1",
                    "--memory-gb", "0.5", "--description",
                    "Ridge regression model to predict diabetes progression.", "--tag", "area=diabetes",
                    "--tag", "type=regression")
    deployment = amlocal(service, "deploy", "my-sklearn-service", "--model", f"{model['name']}:{model['version']}")
    assert deployment["state"] == "Healthy", deployment

    dataset_x, _ = load_diabetes(return_X_y=True)
    input_payload = json.dumps({"data": dataset_x[0:2].tolist(), "method": "predict"})  # the notebook's
    answer = requests.post(deployment["scoring_uri"], data=input_payload, timeout=30,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    import dill
    with open(model_file, "rb") as handle:
        expected = dill.load(handle).predict(dataset_x[0:2]).tolist()
    assert answer.json() == {"predict": pytest.approx(expected)}
    amlocal(service, "deployment", "delete", "my-sklearn-service")


def test_binary_payloads_sample_deploys_with_its_environment(service, tmp_path):
    """azureml-examples' binary-payloads: the @rawhttp score file, deployed with `--environment` built
    from the sample's env.yml (Python 3.10, azureml-defaults>=1.47,<2), answers curl -F with a JPEG."""
    folder = SAMPLES / "binary-payloads"
    # A v2 sample: its file name has dashes, which v1's InferenceConfig (and our API) refuses as an
    # entry script ("must be importable as a valid python module"); the user renames the file.
    code = tmp_path / "code"
    code.mkdir()
    (code / "single_file_to_file_score.py").write_bytes((folder / "code" / "single-file-to-file-score.py").read_bytes())
    env = amlocal(service, "env", "register", "binary-payloads", str(folder / "env.yml"))
    model = amlocal(service, "model", "register", "--file", str(folder), "--name", "binary-payload")
    refused = amlocal(service, "deploy", "binary-payload", "--model", f"{model['name']}:{model['version']}",
                      "--environment", f"{env['name']}:{env['version']}", ok=False)
    assert "--environment needs --entry-script" in refused
    deployment = amlocal(service, "deploy", "binary-payload", "--model", f"{model['name']}:{model['version']}",
                         "--entry-script", "single_file_to_file_score.py", "--source-dir", str(code),
                         "--environment", f"{env['name']}:{env['version']}")
    assert deployment["state"] == "Healthy", deployment

    with open(folder / "input.jpg", "rb") as image:  # curl -X POST -F "file=@input.jpg" $SCORING_URL
        answer = requests.post(deployment["scoring_uri"], files={"file": image}, timeout=60)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/jpg", answer.text
    assert Image.open(io.BytesIO(answer.content)).size == (128, 128)
    missing = requests.post(deployment["scoring_uri"], files={"other": b"x"}, timeout=60)
    assert (missing.status_code, missing.text) == (422, "No file uploaded")

    # The environment is the sample's, with the real Azure packages in it beside our stand-in.
    pythons = list((service.workspace / "envs").glob("*/bin/python"))
    versions = subprocess.run(
        [str(pythons[0]), "-c", "import sys, importlib.metadata as m; print(sys.version_info[:2], "
         "m.version('azureml-defaults'), m.version('azureml-inference-server-http'), m.version('pillow'))"],
        capture_output=True, text=True, timeout=60, check=True).stdout.split(")", 1)
    assert len(pythons) == 1 and versions[0] == "(3, 10"
    defaults, server, pillow = versions[1].split()
    assert defaults.startswith("1.") and int(defaults.split(".")[1]) >= 47 and pillow.startswith("9.")
    amlocal(service, "deployment", "delete", "binary-payload")
