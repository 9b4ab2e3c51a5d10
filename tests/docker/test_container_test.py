"""From a wheel-installed amlocal: deploy to docker, and `amlocal container test` the image.

One module-scoped installed service trains iris, registers it and deploys it to docker; the
container tests then reuse that image (same content, same tag) and build two score.py images
whose pip layer is already cached.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from service.cli.container import print_report
from service.containertests import container_name
from service.store import Workspace
from tests.docker.conftest import free_port
from tests.docker.wheel import InstalledService, installed_venv

pytestmark = pytest.mark.docker

ISSUE_KEYS = {"passed", "mismatches", "bad_inputs", "startup_s", "p50_ms", "p99_ms",
              "memory_mib", "image", "image_mib"}
BAD_INPUTS = ["wrong width", "wrong type", "NaN", "empty", "malformed JSON",
              "body over the limit"]
ROWS_CSV = ("sepal_length,sepal_width,petal_length,petal_width\n"
            "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.9,3.0,4.2,1.5\n4.9,3.0,1.4,0.2\n")
WRONG_ROW = [6.7, 3.0, 5.2, 2.3]  # iris class 2; the broken score.py answers 0 for it
IMAGE_LIMIT_MIB = 450e6 / 2**20  # "under 450 MB"


@pytest.fixture(scope="module")
def installed(docker_engine, tmp_path_factory):
    """amlocal installed from its wheel, serving, with sklearn-iris:1 trained and registered."""
    workdir = tmp_path_factory.mktemp("installed")
    service = InstalledService(installed_venv(workdir), workdir, free_port(),
                               docker_engine.base_image)
    service.start()
    try:
        training = Path(service.python("import training, os; print(os.path.dirname("
                                       "training.__file__))"))
        src = workdir / "train"
        src.mkdir()
        shutil.copy2(training / "train_iris.py", src / "train_iris.py")
        run = service.cli("run", "submit", str(src), "train_iris.py", "--wait", "--json")
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        run_id = json.loads(run.stdout)["id"]
        model = service.cli("model", "register", "--run", run_id, "--path",
                            "outputs/model.joblib", "--name", "sklearn-iris", "--framework",
                            "ScikitLearn")
        assert model.returncode == 0, model.stderr
        (workdir / "rows.csv").write_text(ROWS_CSV)
        yield service
    finally:
        service.stop()
        # the docker deployment's container outlives the service, as a user's would
        subprocess.run(["docker", "rm", "-f", "amlocal-iris-d-1"], capture_output=True,
                       timeout=120, check=False)
        if service.built:
            subprocess.run(["docker", "image", "rm", "-f", *sorted(service.built)],
                           capture_output=True, timeout=120, check=False)


def container_test(service: InstalledService, *args: str) -> tuple[int, dict]:
    """`amlocal container test ... --json`: exit code and report."""
    proc = service.cli("container", "test", "--data", "rows.csv", "--requests", "20", "--json",
                       *args)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    service.built.add(report["image"])
    return proc.returncode, report


def score_py(service: InstalledService, name: str, old: str, new: str) -> Path:
    """The installed iris score.py with one line changed, in its own source folder."""
    scoring = Path(service.python("import scoring; print(scoring.IRIS_ENTRY_SCRIPT)"))
    text = scoring.read_text()
    assert old in text
    folder = service.workdir / name
    folder.mkdir()
    (folder / "score.py").write_text(text.replace(old, new))
    return folder


def test_the_wheel_deploys_to_docker_from_outside_the_checkout(installed):
    where = installed.python("import service, environments.image_files as f; "
                             "print(service.__file__); print(f.image_file(f.DOCKERFILE))")
    assert "/site-packages/" in where and "/work/" not in where, where
    deploy = installed.cli("deploy", "iris-d", "--model", "sklearn-iris:1", "--target", "docker")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    scored = installed.cli("score", "iris-d", "--data", "[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]")
    assert json.loads(scored.stdout) == {"predict": [0, 2]}, scored.stdout + scored.stderr
    image = subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", "amlocal-iris-d-1"],
                           capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    installed.built.add(image)
    installed.deployed_image = image


def test_iris_passes_with_no_mismatch(installed):
    code, report = container_test(installed, "--model", "sklearn-iris:1")
    assert code == 0 and report["passed"], report
    assert ISSUE_KEYS <= set(report)
    assert report["mismatches"] == []
    assert report["compared"]["data"] == 4 and report["compared"]["swagger example"] == 1
    assert [b["name"] for b in report["bad_inputs"]] == BAD_INPUTS
    assert all(b["passed"] and 400 <= b["status"] < 500 and b["message"]
               for b in report["bad_inputs"]), report["bad_inputs"]
    assert report["startup_s"] > 0 and report["memory_mib"] > 0
    assert set(report["p50_ms"]) == set(report["p99_ms"]) == {"1", "8"}
    assert all(report["p50_ms"][k] <= report["p99_ms"][k] for k in ("1", "8"))
    assert 0 < report["image_mib"] < IMAGE_LIMIT_MIB
    # the very image the docker deployment ran (tagged by content), not another build
    assert installed.deployed_image in (None, report["image"])
    name = container_name(Workspace(installed.workdir / "ws"), report["run_id"])
    assert subprocess.run(["docker", "ps", "-aq", "--filter", f"name={name}"],
                          capture_output=True, text=True, timeout=30).stdout.strip() == ""


def test_a_wrong_class_for_one_row_fails_naming_the_row(installed, capsys):
    folder = score_py(installed, "wrong", "    return model.predict(data).tolist()",
                      "    labels = model.predict(data).tolist()\n"
                      f"    return [0 if row == {WRONG_ROW} else label\n"
                      "            for row, label in zip(data.tolist(), labels)]")
    code, report = container_test(installed, "--model", "sklearn-iris:1", "--entry-script",
                                  "score.py", "--source-dir", str(folder))
    assert code == 1 and not report["passed"]
    assert report["mismatches"] == [{"source": "data", "row": 1, "method": "predict",
                                     "input": WRONG_ROW, "expected": 2, "got": 0}]
    assert all(b["passed"] for b in report["bad_inputs"]), report["bad_inputs"]
    print_report(report)  # what the command prints without --json
    assert "MISMATCH    data row 1 (predict): expected 2, got 0" in capsys.readouterr().out


def test_init_that_raises_fails_with_the_log_tail(installed):
    folder = score_py(installed, "broken", "    model = joblib.load(",
                      "    raise RuntimeError('cannot load the model: disk on fire')\n"
                      "    model = joblib.load(")
    code, report = container_test(installed, "--model", "sklearn-iris:1", "--entry-script",
                                  "score.py", "--source-dir", str(folder))
    assert code == 1 and not report["passed"]
    assert report["startup_s"] is None
    assert "the container exited before it was Healthy" in report["failures"]
    assert "disk on fire" in report["log_tail"]
