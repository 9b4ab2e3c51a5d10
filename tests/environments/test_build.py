"""Materialising specs into real virtual environments with uv and pip."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from environments import build
from environments.build import EnvBuildError, find_built, materialise
from environments.curated import DEFAULT_SPEC
from environments.parsing import load_spec, parse_conda_yaml, parse_pip_requirements
from environments.spec import EnvSpecError
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
MISSING_PACKAGE = "amlocal-no-such-package-7f3e9"


def _run_in(built, code: str) -> str:
    done = subprocess.run([str(built.python), "-c", code], capture_output=True, text=True,
                          env=built.environ(), check=True, timeout=120)
    return done.stdout.strip()


def _leftovers(root: Path, env_hash: str) -> list[str]:
    return sorted(p.name for p in root.glob(f"{env_hash}*") if not p.name.endswith(".lock"))


def test_build_with_uv_then_reuse_in_milliseconds(tmp_path):
    spec = parse_pip_requirements("joblib\n")
    log = tmp_path / "run-logs" / "env.log"
    built = materialise(spec, tmp_path / "envs", log_path=log, installer="uv")
    assert not built.reused and built.installer == "uv"
    assert built.path == tmp_path / "envs" / spec.hash
    assert _run_in(built, "import joblib, sys; print(sys.prefix)") == str(built.path)
    assert "Installed" in log.read_text() and "joblib" in log.read_text()
    assert built.build_log.read_text() == log.read_text()
    assert _leftovers(tmp_path / "envs", spec.hash) == [spec.hash]  # no tmp folder, no stray log

    again = materialise(spec, tmp_path / "envs")
    assert again.reused and again.path == built.path
    started = time.perf_counter()
    found = find_built(spec, tmp_path / "envs")
    assert found is not None and (time.perf_counter() - started) < 0.050
    assert again.seconds < 0.050


def test_scripts_in_a_renamed_env_point_at_the_final_folder(tmp_path):
    built = materialise(parse_pip_requirements("joblib\n"), tmp_path / "envs", installer="uv")
    pip_script = (built.path / "bin" / "pip").read_text()
    assert ".tmp-" not in pip_script and str(built.path) in pip_script
    done = subprocess.run([str(built.path / "bin" / "pip"), "--version"], capture_output=True,
                          text=True, env=built.environ(), timeout=60, check=True)
    assert str(built.path) in done.stdout


def test_build_with_pip(tmp_path):
    spec = parse_pip_requirements("joblib\n")
    built = materialise(spec, tmp_path / "envs", installer="pip")
    assert built.installer == "pip" and not built.reused
    assert _run_in(built, "import joblib; print('ok')") == "ok"
    assert ".tmp-" not in (built.path / "bin" / "activate").read_text()


def test_unpinned_spec_uses_this_python_and_variables_reach_the_process(tmp_path):
    spec = parse_conda_yaml("dependencies:\n  - pip\nvariables:\n  AMLOCAL_FLAG: 'yes'\n")
    built = materialise(spec, tmp_path / "envs")
    code = "import os, sys; print(os.environ['AMLOCAL_FLAG'], sys.version_info[:2])"
    assert _run_in(built, code) == f"yes {tuple(sys.version_info[:2])}"
    assert find_built(spec, tmp_path / "envs").variables == {"AMLOCAL_FLAG": "yes"}


def test_nonexistent_package_fails_with_installer_message_and_leaves_nothing(tmp_path):
    root = tmp_path / "envs"
    bad = parse_pip_requirements(f"joblib\n{MISSING_PACKAGE}\n")
    log = tmp_path / "run.log"
    with pytest.raises(EnvBuildError) as caught:
        materialise(bad, root, log_path=log, installer="uv")
    error = caught.value
    assert MISSING_PACKAGE in log.read_text()
    assert "not found" in log.read_text().lower()  # uv's own words, not ours
    assert MISSING_PACKAGE in error.log_tail and error.env_hash == bad.hash
    assert error.log_path == root / f"{bad.hash}.failed.log" and error.log_path.exists()
    assert _leftovers(root, bad.hash) == [f"{bad.hash}.failed.log"]
    assert find_built(bad, root) is None

    fixed = parse_pip_requirements("joblib\n")
    built = materialise(fixed, root, installer="uv")
    assert not built.reused and _run_in(built, "import joblib; print('ok')") == "ok"


def test_a_failed_build_is_retried_not_remembered_as_built(tmp_path):
    bad = parse_pip_requirements(f"{MISSING_PACKAGE}\n")
    for _ in range(2):
        with pytest.raises(EnvBuildError):
            materialise(bad, tmp_path / "envs", installer="uv")
    assert find_built(bad, tmp_path / "envs") is None


def test_a_crashed_build_s_remains_are_cleared_before_building(tmp_path):
    root = tmp_path / "envs"
    spec = parse_pip_requirements("joblib\n")
    (root / f"{spec.hash}.tmp-999999" / "bin").mkdir(parents=True)
    (root / spec.hash / "lib").mkdir(parents=True)  # a final folder with no marker is not built
    assert find_built(spec, root) is None
    built = materialise(spec, root)
    assert not built.reused and _leftovers(root, spec.hash) == [spec.hash]


def test_unknown_installer_and_unsatisfiable_python_are_refused(tmp_path):
    spec = parse_pip_requirements("joblib\n")
    with pytest.raises(ValueError, match="installer must be one of"):
        materialise(spec, tmp_path, installer="poetry")
    unsatisfiable = parse_conda_yaml("dependencies:\n  - python=3.99\n", check=False)
    with pytest.raises(EnvSpecError, match="no interpreter on this machine"):
        materialise(unsatisfiable, tmp_path)
    assert list(tmp_path.iterdir()) == []


CONCURRENT = """
import json, sys
from environments.build import materialise
from environments.parsing import parse_pip_requirements
built = materialise(parse_pip_requirements(sys.argv[1]), sys.argv[2], log_path=sys.argv[3])
print(json.dumps({"path": str(built.path), "reused": built.reused}))
"""


def test_two_processes_asking_for_one_new_spec_get_one_build(tmp_path):
    root = tmp_path / "envs"
    text = "joblib\n# concurrent\n"
    spec = parse_pip_requirements(text)
    root.mkdir()
    logs = [tmp_path / f"caller{i}.log" for i in range(2)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # Hold the build lock so both callers are certainly waiting at once when it is released.
    with FileLock(str(root / f"{spec.hash}.lock")):
        procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, text, str(root), str(log)],
                                  stdout=subprocess.PIPE, text=True, env=env) for log in logs]
        for log in logs:
            wait_for(lambda log=log: "waiting for another process" in log.read_text(),
                     timeout=60, message=f"{log.name} to wait on the lock")
    results = [json.loads(proc.communicate(timeout=300)[0]) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert {r["path"] for r in results} == {str(root / spec.hash)}
    assert sorted(r["reused"] for r in results) == [False, True]
    build_log = (root / spec.hash / build.BUILD_LOG).read_text()
    assert build_log.count("# amlocal: building environment") == 1
    for log in logs:  # the waiter's log carries the build log too
        assert "Installed" in log.read_text()


def test_sklearn_env_builds_and_trains_a_model(tmp_path):
    spec = load_spec(DEFAULT_SPEC)
    built = materialise(spec, tmp_path / "envs", log_path=tmp_path / "build.log")
    code = ("from sklearn.datasets import load_iris\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "import joblib, sys\n"
            "X, y = load_iris(return_X_y=True)\n"
            "model = LogisticRegression(max_iter=500).fit(X, y)\n"
            f"joblib.dump(model, {str(tmp_path / 'model.pkl')!r})\n"
            "print(round(model.score(X, y), 1), sys.version_info[:2])")
    assert _run_in(built, code) == "1.0 (3, 11)"
    record = json.loads((built.path / build.MARKER).read_text())
    assert record["spec"]["hash"] == spec.hash and record["python_version"].startswith("3.11.")
    assert materialise(spec, tmp_path / "envs").reused


def test_a_build_past_its_timeout_is_stopped_and_leaves_nothing(tmp_path):
    spec = parse_pip_requirements("joblib\n# timeout\n")
    with pytest.raises(EnvBuildError) as caught:
        materialise(spec, tmp_path / "envs", build_timeout=0.001)
    assert "timed out" in str(caught.value)
    assert _leftovers(tmp_path / "envs", spec.hash) == [f"{spec.hash}.failed.log"]


def test_an_env_whose_interpreter_is_gone_is_rebuilt(tmp_path):
    spec = parse_pip_requirements("joblib\n")
    built = materialise(spec, tmp_path / "envs")
    (built.path / "bin" / "python").unlink()
    assert find_built(spec, tmp_path / "envs") is None
    again = materialise(spec, tmp_path / "envs")
    assert not again.reused and _run_in(again, "import joblib; print('ok')") == "ok"


def test_curated_azureml_core_env_gives_scripts_the_real_sdk(tmp_path):
    from environments.curated import list_curated
    built = materialise(list_curated()["amlocal-azureml-core"], tmp_path / "envs")
    code = "from azureml.core.run import Run; print(type(Run.get_context()).__name__)"
    assert _run_in(built, code) == "_OfflineRun"  # the real SDK's offline run, outside Azure


def test_scoring_env_for_a_model_loads_it_without_a_version_warning(tmp_path):
    import joblib
    import sklearn
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    from environments.curated import sklearn_scoring_spec
    X, y = load_iris(return_X_y=True)
    joblib.dump(DecisionTreeClassifier().fit(X, y), tmp_path / "model.pkl")
    built = materialise(sklearn_scoring_spec(sklearn.__version__), tmp_path / "envs")
    code = ("import warnings, joblib, flask, inference_schema\n"
            "warnings.simplefilter('error')\n"
            f"model = joblib.load({str(tmp_path / 'model.pkl')!r})\n"
            "print(model.predict([[5.1, 3.5, 1.4, 0.2]])[0])")
    assert _run_in(built, code) == "0"
