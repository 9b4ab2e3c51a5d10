"""The bubblewrap sandbox: what a confined script sees, what it cannot, and when there is none."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import prepare_sandbox
from tests.training.helpers import make_spec
from training.executor import Executor
from training.sandbox import Mount, Sandbox, detect

LOOK = """
    import json, os, sys
    def read(path):
        try:
            return open(path).read()
        except Exception as err:
            return type(err).__name__
    def write(path):
        try:
            open(path, "w").write("x")
            return "wrote"
        except Exception as err:
            return type(err).__name__
    paths = json.loads(sys.argv[1])
    seen = {"uid": os.getuid(), "home": os.environ.get("HOME"), "pids": sorted(
        int(p) for p in os.listdir("/proc") if p.isdigit()),
            "secret": read(paths["secret"]), "shown": read(paths["shown"]),
            "write shown": write(paths["shown"]), "write tmp": write("/tmp/mine"),
            "write cwd": write("outputs/mine"), "write host": write(paths["host"])}
    open("outputs/seen.json", "w").write(json.dumps(seen))
    """


@pytest.fixture
def sandbox(visible_dir) -> Sandbox:
    assert prepare_sandbox(), "bubblewrap is needed (docker/prepare-sandbox.sh)"
    found, how = detect(hide=[visible_dir / "ws"], show=[visible_dir / "ws" / "envs"])
    assert found is not None, how
    return found


def test_a_sandboxed_script_sees_its_run_and_what_is_shown_only(tmp_path, visible_dir, sandbox):
    (visible_dir / "ws" / "envs").mkdir(parents=True)
    (visible_dir / "ws" / "api-token").write_text("secret")
    (visible_dir / "ws" / "envs" / "python.txt").write_text("shown")
    paths = {"secret": str(visible_dir / "ws" / "api-token"),
             "shown": str(visible_dir / "ws" / "envs" / "python.txt"),
             "host": str(visible_dir / "planted")}
    spec = make_spec(tmp_path, {"train.py": LOOK}, arguments=[json.dumps(paths)])
    result = Executor(sandbox=sandbox).execute(spec)
    assert result.status == "Completed", result
    seen = json.loads((spec.run_dir / "outputs" / "seen.json").read_text())
    assert seen["secret"] == "FileNotFoundError" and seen["shown"] == "shown"
    assert seen["write shown"] != "wrote" and seen["write host"] != "wrote"
    assert seen["write tmp"] == "wrote" and seen["write cwd"] == "wrote"
    assert seen["home"] == "/tmp" and max(seen["pids"]) < 100  # its own PID namespace
    # root's scripts run as amlocal-run; anyone else's as themselves, in a user namespace
    assert seen["uid"] == (sandbox.user[1] if os.geteuid() == 0 else os.geteuid()) != 0
    assert not (visible_dir / "planted").exists()


def test_a_path_shown_inside_a_hidden_one_keeps_what_it_holds_hidden():
    box = Sandbox("bwrap", hide=(Path("/srv/ws"),))
    mounts = box.mounts(writable=[Path("/srv/ws/runs/r1")], readable=[Path("/srv/code")])
    assert mounts == [Mount(Path("/srv/ws"), "hide"), Mount(Path("/srv/code"), "ro"),
                      Mount(Path("/srv/ws/runs/r1"), "rw")]
    # the workspace under a shown folder (a checkout in the home): shown first, hidden after
    box = Sandbox("bwrap", hide=(Path("/home/u"), Path("/home/u/src/ws")))
    order = [m.path for m in box.mounts(writable=[], readable=[Path("/home/u/src")])]
    assert order == [Path("/home/u"), Path("/home/u/src"), Path("/home/u/src/ws")]


def test_without_bubblewrap_there_is_no_sandbox_and_the_reason_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect() == (None, "bubblewrap (bwrap) is not installed")
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\n"
                      "exit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    found, why = detect()
    assert found is None and "No permissions to create new namespace" in why
