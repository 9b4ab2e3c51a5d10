"""The deployment commands against a real service: deploy, score, list, dry-run, delete."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, TOKEN
from tests.service.test_deployments_support import iris_model, register_model


def amlocal(svc, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**svc.env, "AMLOCAL_URL": svc.url, "AMLOCAL_API_TOKEN": TOKEN}
    proc = subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=300)
    assert (proc.returncode == 0) == ok, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def test_deploy_score_list_and_delete_from_the_command_line(svc):
    register_model(svc.workspace, "sklearn-iris", iris_model())
    out = amlocal(svc, "deploy", "iris-cli", "--model", "sklearn-iris:1").stdout
    assert "iris-cli: Healthy" in out and "scoring URI: http://127.0.0.1:" in out
    out = amlocal(svc, "score", "iris-cli", "--data", "[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]")
    assert json.loads(out.stdout) == {"predict": [0, 2]}
    assert "iris-cli" in amlocal(svc, "deployment", "list").stdout
    shown = json.loads(amlocal(svc, "deployment", "show", "iris-cli", "--json").stdout)
    assert shown["state"] == "Healthy" and len(shown["history"]) == 1
    out = amlocal(svc, "deployment", "update", "iris-cli", "--workers", "2").stdout
    assert "iris-cli: Healthy" in out
    assert "iris-cli: Healthy" in amlocal(svc, "deployment", "rollback", "iris-cli").stdout
    assert "ready for serving" in amlocal(svc, "deployment", "logs", "iris-cli").stdout
    assert "auth enabled" in amlocal(svc, "deployment", "keys", "iris-cli", ok=False).stderr
    bad = amlocal(svc, "deploy", "Bad_Name", "--model", "sklearn-iris:1", ok=False)
    assert "service name is invalid" in bad.stderr
    plan = json.loads(amlocal(svc, "deploy", "iris-aci", "--model", "sklearn-iris:1",
                              "--target", "aci", "--dry-run").stdout)
    assert plan["Model.register"][0]["model_name"] == "sklearn-iris"
    assert plan["AciWebservice.deploy_configuration"]["cpu_cores"] == 1
    assert "Deleted" in amlocal(svc, "deployment", "delete", "iris-cli").stdout
    assert amlocal(svc, "deployment", "list", "--json").stdout.strip() == "[]"
