"""`amlocal sweep submit|show|best` as a user runs them, against a real service."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO, TOKEN

SCRIPT = ("import argparse\nfrom azureml.core.run import Run\n"
          "parser = argparse.ArgumentParser()\nparser.add_argument('--x', type=int)\n"
          "parser.add_argument('--kind')\nparser.add_argument('--base')\n"
          "args = parser.parse_args()\nprint('base', args.base)\n"
          "if args.kind != 'silent':\n    Run.get_context().log('score', args.x * 10)\n")


def amlocal(service, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "AMLOCAL_URL": service.url, "AMLOCAL_API_TOKEN": TOKEN}
    return subprocess.run([sys.executable, "-m", "service.cli", *argv], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_submit_wait_shows_the_children_and_ends_with_the_best_run(service, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "s.py").write_text(SCRIPT)
    done = amlocal(service, "sweep", "submit", str(src), "s.py", "--param", "--x=choice(1,3,2)",
                   "--param", "kind=choice(loud)", "--metric", "score", "--goal", "maximize",
                   "--max-runs", "5", "--concurrency", "2", "--sampling", "grid",
                   "--experiment", "cli-sweep", "--wait", "--", "--base", "kept")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("Sweep HD_")
    parent_id = out.split()[1]
    for i, x in enumerate((1, 3, 2)):
        assert f"child {i:>3}  Completed  --x={x} kind=loud  score={x * 10}" in out
    assert "Status: Completed  (3 children: 3 Completed)" in out
    assert "Stopped: the search space is exhausted after 3 configurations" in out
    assert f"Best run: {parent_id}_1  score=30  " in out
    log = amlocal(service, "run", "logs", f"{parent_id}_1").stdout
    assert "base kept" in log  # base arguments come first, then the sampled values
    shown = amlocal(service, "sweep", "show", parent_id)
    assert shown.returncode == 0 and shown.stdout.index("--x=3") < shown.stdout.index("--x=1")
    assert amlocal(service, "sweep", "best", parent_id, "-q").stdout == f"{parent_id}_1\n"
    best = json.loads(amlocal(service, "sweep", "best", parent_id, "--json").stdout)
    assert best["run_id"] == f"{parent_id}_1" and best["hyperparameters"] == {"--x": 3,
                                                                              "kind": "loud"}


def test_best_without_the_metric_and_bad_params_exit_with_the_reason(service, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "s.py").write_text(SCRIPT)
    common = ["sweep", "submit", str(src), "s.py", "--metric", "score", "--max-runs", "1"]
    bad = amlocal(service, *common, "--param", "--x=choice()")
    assert bad.returncode == 2 and "Please specify an input for choice." in bad.stderr
    bad = amlocal(service, *common, "--param", "--x=choice(1)", "--policy", "bandit(slack=1)")
    assert bad.returncode == 2 and "slack" in bad.stderr
    refused = amlocal(service, *common, "--param", "--x=choice(1)", "--goal", "up")
    assert refused.returncode == 1 and "'maximize' or 'minimize'" in refused.stderr
    silent = amlocal(service, *common, "--param", "--x=choice(1)", "--param",
                     "kind=choice(silent)", "--wait")
    assert silent.returncode == 0 and "Best run: none (no child logged 'score')" in silent.stdout
    parent_id = silent.stdout.split()[1]
    missing = amlocal(service, "sweep", "best", parent_id)
    assert missing.returncode == 1 and "'score'" in missing.stderr
