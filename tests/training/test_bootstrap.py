"""Run.get_context() inside a script: with the real azureml-core, and in a venv without it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.helpers import RecordingHooks, make_spec
from training.executor import Executor
from training.metrics import fold

PROBE = """
    import json, sys
    from azureml.core.run import Run
    from azureml.core import Run as TopLevelRun
    import azureml.core.run as module
    run = Run.get_context()
    assert TopLevelRun.get_context(allow_offline=False) is run
    run.log("origin", getattr(module, "__file__", None) or "shim")
    run.log("prefix", sys.prefix)
    run.log_row("ids", id=run.id, experiment=run.experiment.name)
    run.tag("checked", "yes")
    """


def test_real_azureml_core_is_patched(tmp_path: Path) -> None:
    pytest.importorskip("azureml.core")  # the shared venv has it
    spec = make_spec(tmp_path, {"train.py": PROBE}, python=sys.executable)
    hooks = RecordingHooks()
    result = Executor().execute(spec, hooks)
    assert result.status == "Completed", result.error
    metrics = fold(hooks.events)
    assert metrics["origin"].endswith("site-packages/azureml/core/run.py")
    assert metrics["ids"] == {"id": "exp_1_test", "experiment": "exp"}
    assert {"type": "tags", "tags": {"checked": "yes"}} in [
        {k: v for k, v in e.items() if k != "ts"} for e in hooks.events]


def test_fresh_venv_without_azureml_gets_the_standin(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import azureml"], capture_output=True)
    assert probe.returncode != 0  # nothing of azureml (nor of amlocal) in that venv
    spec = make_spec(tmp_path, {"train.py": PROBE}, python=str(python))
    hooks = RecordingHooks()
    result = Executor().execute(spec, hooks)
    assert result.status == "Completed", result.error
    metrics = fold(hooks.events)
    assert metrics["origin"].endswith("training/standin/azureml/core/run.py")
    assert metrics["prefix"] == str(venv)
    assert metrics["ids"] == {"id": "exp_1_test", "experiment": "exp"}


def test_run_api_misuse_fails_the_run_with_azure_message(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, {"train.py": "from azureml.core import Run\n"
                                            "Run.get_context().log('x', [1, 2])\n"})
    result = Executor().execute(spec)
    assert result.status == "Failed"
    assert result.error["message"] == (
        "azureml.exceptions.UserErrorException: run.log does not support list type. Use run.log_list instead")
