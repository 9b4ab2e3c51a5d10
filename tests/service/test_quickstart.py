"""The README's first command: `amlocal quickstart` trains, registers, deploys and scores."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO, free_port


def test_quickstart_runs_the_whole_loop_and_leaves_nothing_running(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLOCAL_")}
    done = subprocess.run([sys.executable, "-m", "service.cli", "quickstart", "--workspace",
                           str(tmp_path / "ws"), "--port", str(free_port())], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "Status: Completed" in out and "Accuracy: 0.97368" in out
    assert "Registered sklearn-iris:1: SVC, 4 features, classes [0, 1, 2]" in out
    assert '-> 200 {"predict": [0, 2]}' in out and "scoring URI http://127.0.0.1:" in out
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "ws")], capture_output=True,
                               text=True).stdout.split()
    assert leftovers == [], leftovers
