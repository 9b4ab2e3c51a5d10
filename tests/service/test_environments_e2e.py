"""Runs inside built environments, against a real service (gunicorn + agent, real uv builds).

The uv cache makes a build of a small spec take seconds after the first one on a machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from environments import (DEFAULT_SPEC, find_built, materialise, parse_conda_yaml,
                          parse_pip_requirements, sklearn_scoring_spec)
from service.environments import with_scoring_requirements
from service.store import Store, Workspace
from tests.conftest import REPO, TOKEN, make_snapshot

TRAIN_IRIS = (REPO / "training" / "train_iris.py").read_text()
BUILD_TIMEOUT = 540
BUILDING = "# amlocal: building environment"


def amlocal(service, *argv: str, timeout: float = BUILD_TIMEOUT) -> subprocess.CompletedProcess:
    env = {**os.environ, "AMLOCAL_URL": service.url, "AMLOCAL_API_TOKEN": TOKEN}
    return subprocess.run([sys.executable, "-m", "service.cli", *argv], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def _log(service, run_id: str) -> str:
    return service.http("GET", f"/runs/{run_id}/logs").text


def test_train_iris_in_sklearn_env_then_a_second_run_reuses_it(service):
    done = amlocal(service, "env", "register", "sklearn", str(DEFAULT_SPEC), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["id"] == "sklearn:1"
    first = service.submit({"train_iris.py": TRAIN_IRIS}, "train_iris.py", experiment="iris",
                           environment="sklearn")
    run = service.wait_run(first["id"], timeout=BUILD_TIMEOUT)
    log = _log(service, run["id"])
    assert run["status"] == "Completed", (run, log)
    assert (run["environment"]["name"], run["environment"]["version"]) == ("sklearn", 1)
    metrics = service.http("GET", f"/runs/{run['id']}/metrics").json()["metrics"]
    assert round(metrics["Accuracy"], 4) == 0.9737
    envs = service.workspace.resolve() / "envs"
    spec = parse_conda_yaml(DEFAULT_SPEC.read_text())
    assert run["properties"]["amlocal.python"] == str(envs / spec.hash / "bin" / "python")
    assert "# amlocal: preparing sklearn:1" in log and BUILDING in log

    second = service.wait_run(service.submit({"train_iris.py": TRAIN_IRIS}, "train_iris.py",
                                             experiment="iris", environment="sklearn:1")["id"])
    log2 = _log(service, second["id"])
    assert second["status"] == "Completed", (second, log2)
    assert BUILDING not in log2 and "sklearn:1 is already built" in log2
    assert find_built(spec, envs).seconds < 0.05  # what a reuse costs the agent
    _register_and_build_its_scoring_env(service, run["id"], envs / spec.hash)
    shown = service.http("GET", "/environments/sklearn/versions/1").json()
    assert shown["build"]["state"] == "Succeeded"
    assert "scikit-learn" in service.http("GET", "/environments/sklearn/versions/1/log").text


def _register_and_build_its_scoring_env(service, run_id: str, env_path) -> None:
    """The registry reads the run's environment; the deployments hook builds a scoring env with
    the same scikit-learn that unpickles the model."""
    resp = service.http("POST", "/models", json={"name": "iris", "run_id": run_id,
                                                 "path": "outputs/model.joblib",
                                                 "framework": "ScikitLearn"})
    assert resp.status_code == 201, resp.text
    recorded = resp.json()["environment"]
    assert recorded["interpreter"].startswith(str(env_path)), recorded
    trained_with = recorded["packages"]["scikit-learn"]
    ws = Workspace(service.workspace.resolve())
    model = Store(ws.db_path).get_model_version("iris", 1)
    log_path = service.workspace / "scoring-build.log"
    spec = with_scoring_requirements(sklearn_scoring_spec(trained_with))
    built = materialise(spec, ws.envs_dir, log_path=log_path)
    code = ("import joblib, sklearn, sys; m = joblib.load(sys.argv[1]); "
            "print(sklearn.__version__, m.predict([[5.1, 3.5, 1.4, 0.2]]).tolist())")
    out = subprocess.run([str(built.python), "-W", "error", "-c", code,
                          str(model.dir / "model.joblib")], env=built.environ(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(" ", 1) == [trained_with, "[0]\n"]


def test_two_runs_with_one_new_spec_build_it_once_and_both_complete(service):
    nonce = uuid.uuid4().hex
    spec_text = ("dependencies:\n  - python=3.11\n  - pip:\n    - joblib>=1.3\n"
                 f"variables:\n  ENV_NONCE: '{nonce}'\n")
    script = ("import os, sys, joblib\nprint('prefix', sys.prefix)\n"
              f"assert os.environ['ENV_NONCE'] == {nonce!r}\n")
    runs = [service.submit({"s.py": script}, "s.py", environment={"conda_spec": spec_text})
            for _ in range(2)]
    done = [service.wait_run(r["id"], timeout=BUILD_TIMEOUT) for r in runs]
    logs = [_log(service, r["id"]) for r in runs]
    assert [d["status"] for d in done] == ["Completed", "Completed"], (done, logs)
    # The run that waited gets a note then the builder's log; one that came later, a reuse note.
    shared = ("was built by another process", "is already built")
    builders = [log for log in logs if BUILDING in log and not any(s in log for s in shared)]
    assert len(builders) == 1, logs
    spec = parse_conda_yaml(spec_text)
    prefix = str(service.workspace.resolve() / "envs" / spec.hash)
    assert all(f"prefix {prefix}" in log for log in logs), logs
    assert done[0]["properties"]["amlocal.python"] == done[1]["properties"]["amlocal.python"]


def test_a_missing_package_fails_in_preparing_then_a_fixed_spec_runs(service):
    package = f"amlocal-no-such-package-{uuid.uuid4().hex[:8]}"
    bad = service.submit({"s.py": "print('never')\n"}, "s.py",
                         environment={"pip_requirements": f"{package}==1.0\njoblib\n"})
    failed = service.wait_run(bad["id"], timeout=BUILD_TIMEOUT)
    assert failed["status"] == "Failed", failed
    assert "Preparing" in failed["status_times"] and "Running" not in failed["status_times"]
    message = failed["error"]["message"]
    assert message.startswith("Building inline environment failed:"), message
    assert package in message and ("not found" in message or "No matching" in message), message
    assert "Traceback" not in message and "Creating virtual environment" not in message
    log = _log(service, bad["id"])
    assert package in log and "never" not in log
    envs = service.workspace.resolve() / "envs"
    spec = parse_pip_requirements(f"{package}==1.0\njoblib\n")
    assert not (envs / spec.hash).exists() and not list(envs.glob(f"{spec.hash}.tmp-*"))
    assert (envs / f"{spec.hash}.failed.log").exists()

    fixed = service.submit({"s.py": "import joblib\nprint('fixed', joblib.__version__)\n"}, "s.py",
                           environment={"pip_requirements": "joblib\n"})
    done = service.wait_run(fixed["id"], timeout=BUILD_TIMEOUT)
    assert done["status"] == "Completed" and "fixed" in _log(service, fixed["id"])


def test_real_azureml_core_in_the_curated_env_logs_metrics_into_the_run(service):
    script = ("from azureml.core.run import Run\nimport azureml.core\n"
              "print('azureml-core', azureml.core.VERSION)\n"
              "run = Run.get_context()\nrun.log('accuracy', 0.91)\n"
              "run.log_list('losses', [0.5, 0.25])\n")
    run = service.submit({"s.py": script}, "s.py", environment="amlocal-azureml-core")
    done = service.wait_run(run["id"], timeout=BUILD_TIMEOUT)
    log = _log(service, run["id"])
    assert done["status"] == "Completed", (done, log)
    assert "azureml-core 1." in log
    metrics = service.http("GET", f"/runs/{run['id']}/metrics").json()["metrics"]
    assert metrics["accuracy"] == 0.91 and metrics["losses"] == [0.5, 0.25]


def test_cli_builds_lists_shows_and_submits_with_an_environment(service, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("joblib>=1.3\n")
    assert amlocal(service, "env", "register", "mini", str(requirements)).returncode == 0
    built = amlocal(service, "env", "build", "mini", "--wait")
    assert built.returncode == 0 and "mini:1: Succeeded" in built.stdout, built.stderr
    listed = amlocal(service, "env", "list")
    assert listed.returncode == 0
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert rows[0] == ["mini", "1", "pip", "Succeeded"], listed.stdout
    assert ["amlocal-sklearn-1.9", "1", "conda", "yes", "3.11", "NotBuilt"] in rows
    shown = amlocal(service, "env", "show", "mini:1")
    assert shown.returncode == 0 and "joblib>=1.3" in shown.stdout
    missing = amlocal(service, "env", "show", "nope")
    assert missing.returncode == 1 and "not found" in missing.stderr
    src = tmp_path / "src"
    src.mkdir()
    (src / "s.py").write_text("import sys\nprint('interpreter', sys.executable)\n")
    run = amlocal(service, "run", "submit", str(src), "s.py", "--environment", "mini:1", "--wait")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Status: Completed" in run.stdout and "/envs/" in run.stdout
    unknown = amlocal(service, "run", "submit", str(src), "s.py", "--environment", "mini:7")
    assert unknown.returncode == 1 and "no version 7" in unknown.stderr


def test_sweep_children_share_one_build_of_the_sweep_s_environment(service):
    spec_text = "joblib>=1.3\n"  # each test has its own workspace, so its own envs/
    script = ("import argparse, os, sys\nfrom azureml.core.run import Run\n"
              "parser = argparse.ArgumentParser()\nparser.add_argument('--x', type=float)\n"
              "args = parser.parse_args()\nimport joblib\n"
              f"assert sys.prefix.endswith({parse_pip_requirements(spec_text).hash!r})\n"
              "Run.get_context().log('score', args.x)\n")
    resp = service.http("POST", "/experiments/env-sweep/sweeps",
                        files={"snapshot": ("s.tar.gz", make_snapshot({"s.py": script}))},
                        data={"config": json.dumps({
                            "script": "s.py", "environment": {"pip_requirements": spec_text},
                            "sampling": {"type": "grid", "space": {"--x": ["choice", [[1, 2, 3]]]}},
                            "primary_metric": {"name": "score", "goal": "maximize"},
                            "max_total_runs": 3, "max_concurrent_runs": 3})})
    assert resp.status_code == 201, resp.text
    parent = service.wait_run(resp.json()["id"], timeout=BUILD_TIMEOUT)
    assert parent["status"] == "Completed", parent
    ids = [c["run_id"] for c in service.http("GET", f"/runs/{parent['id']}/children")
           .json()["children"]]
    runs = [service.run(i) for i in ids]
    assert [r["status"] for r in runs] == ["Completed"] * 3
    assert len({r["properties"]["amlocal.python"] for r in runs}) == 1
    logs = [_log(service, i) for i in ids]
    shared = ("was built by another process", "is already built")
    assert len([log for log in logs if not any(s in log for s in shared)]) == 1, logs
