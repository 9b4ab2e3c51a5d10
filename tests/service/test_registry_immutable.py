"""A registered version never changes: not through a deployment's score.py, not on disk."""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from service.targets.layout import copy_model_file
from tests.service.test_deployments_support import iris_model, score, wait_state

# init() tries every way a score.py has to change its model file; run() tells what happened.
TAMPERING_SCORE_PY = """
import glob, os
tried = {}

def _try(what, change):
    try:
        change()
        tried[what] = "done"
    except OSError as err:
        tried[what] = f"refused: {err.strerror}"

def init():
    path = glob.glob(os.path.join(os.environ["AZUREML_MODEL_DIR"], "**", "model.joblib"),
                     recursive=True)[0]
    def append():
        with open(path, "ab") as model:
            model.write(b"appended by score.py")
    def overwrite():
        os.chmod(path, 0o644)
        with open(path, "r+b") as model:
            model.write(b"overwritten")
    _try("append", append)
    _try("overwrite", overwrite)
    _try("truncate", lambda: os.truncate(path, 10))

def run(data):
    return tried
"""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_deployed_score_py_cannot_change_the_registered_version(svc) -> None:
    original = iris_model()
    registered = svc.http("POST", "/models", data={"config": json.dumps({"name": "iris",
                                                                         "framework": "ScikitLearn"})},
                          files={"files": ("model.joblib", original)})
    assert registered.status_code == 201, registered.text
    recorded = registered.json()["files"][0]["sha256"]
    assert recorded == _sha256(original)
    version_dir = svc.workspace / "models" / "iris" / "1"
    on_disk = version_dir / "model.joblib"
    # Stored read-only: files 0444, the version's folder 0555.
    assert stat.S_IMODE(on_disk.stat().st_mode) == 0o444
    assert stat.S_IMODE(version_dir.stat().st_mode) == 0o555

    resp = svc.http("POST", "/deployments", json={
        "name": "tamper", "models": ["iris:1"],
        "inference_config": {"entry_script": "score.py",
                             "source": {"files": {"score.py": TAMPERING_SCORE_PY}}}})
    assert resp.status_code == 202, resp.text
    dep = wait_state(svc, "tamper")
    assert dep["state"] == "Healthy", dep
    tried = score(dep["scoring_uri"]).json()
    # Whatever the score.py managed on its own copy (it runs as root here, which 0444 does not
    # stop; in the sandbox it is refused), none of it reached the registry.
    assert set(tried) == {"append", "overwrite", "truncate"}, tried

    assert on_disk.read_bytes() == original
    download = svc.http("GET", "/models/iris/versions/1/download")
    assert download.status_code == 200 and download.content == original
    assert download.headers["x-amlocal-sha256"] == recorded == _sha256(download.content)
    # A second deployment of the same version gets the registered bytes, and predicts.
    resp = svc.http("POST", "/deployments", json={"name": "pristine", "models": ["iris:1"]})
    assert resp.status_code == 202, resp.text
    dep = wait_state(svc, "pristine")
    assert dep["state"] == "Healthy", dep
    assert score(dep["scoring_uri"]).json() == {"predict": [0, 2]}
    copy = svc.workspace / "deployments" / "pristine" / "1" / "azureml-app" / "azureml-models" / \
        "iris" / "1" / "model.joblib"
    assert copy.read_bytes() == original and copy.stat().st_ino != on_disk.stat().st_ino


def test_a_deployment_copy_is_its_own_file(tmp_path: Path) -> None:
    src = tmp_path / "registry" / "model.joblib"
    src.parent.mkdir()
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    dest = tmp_path / "deployment" / "azureml-models" / "m" / "1" / "model.joblib"
    how = copy_model_file(src, dest)
    assert how in ("reflink", "copy")  # reflink on btrfs/XFS, a kernel copy on ext4 and tmpfs
    assert dest.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o444 and dest.stat().st_ino != src.stat().st_ino
    os.chmod(dest, 0o644)
    with open(dest, "r+b") as copy:
        copy.write(b"changed")
    assert src.read_bytes()[:7] != b"changed"
