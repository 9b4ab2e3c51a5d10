"""The executor with real subprocesses: complete, fail, cancel, timeout, live events, layout."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import joblib
import pytest

from tests.polling import wait_for
from tests.training.helpers import RecordingHooks, group_members, make_spec
from training.executor import Executor, script_environment
from training.metrics import fold

TRAIN_IRIS = (Path(__file__).resolve().parents[2] / "training" / "train_iris.py").read_text()


def test_train_iris_completes_with_metrics_and_model(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, {"train_iris.py": TRAIN_IRIS}, script="train_iris.py")
    hooks = RecordingHooks()
    result = Executor().execute(spec, hooks)
    assert (result.status, result.exit_code, result.error) == ("Completed", 0, None)
    assert hooks.states == ["Preparing", "Running", "Finalizing"] and hooks.pid
    metrics = fold(hooks.events)
    assert metrics["Kernel type"] == "linear" and metrics["Penalty"] == 1.0
    assert round(metrics["Accuracy"], 4) == 0.9737
    model = joblib.load(spec.run_dir / "outputs" / "model.joblib")
    assert list(model.predict([[5.1, 3.5, 1.4, 0.2]])) == [0]
    assert "Accuracy: 0.9737" in (spec.run_dir / "user_logs" / "std_log.txt").read_text()
    assert not (spec.run_dir / "wd").exists()
    assert sorted(p.name for p in spec.run_dir.iterdir()) == [
        ".amlocal", "logs", "outputs", "user_logs"]


def test_raising_script_fails_with_exit_code_and_last_line(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, {"train.py": """
        import sys
        print("starting")
        print("a warning on stderr", file=sys.stderr)
        def go():
            raise ValueError("boom")
        go()
        """})
    result = Executor().execute(spec)
    assert result.status == "Failed" and result.exit_code == 1
    assert result.error["message"] == "ValueError: boom"
    assert result.error["exit_code"] == 1
    tail = result.error["stderr_tail"]
    assert tail.startswith("a warning on stderr") and "Traceback" in tail
    assert "bootstrap.py" not in tail and "runpy" not in tail  # only the user's frames
    log = (spec.run_dir / "user_logs" / "std_log.txt").read_text()
    assert "starting" in log and "ValueError: boom" in log


def test_exit_code_without_stderr(tmp_path: Path) -> None:
    result = Executor().execute(make_spec(tmp_path, {"train.py": "import sys; sys.exit(3)"}))
    assert (result.status, result.exit_code) == ("Failed", 3)
    assert result.error["message"] == "Process exited with code 3"


SLEEPER = """
    import signal, subprocess, sys, time
    from azureml.core import Run
    if "--ignore-term" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    run = Run.get_context()
    run.log("child_pid", child.pid)
    time.sleep(60)
    """


@pytest.mark.parametrize("arguments, grace", [([], 3.0), (["--ignore-term"], 0.5)],
                         ids=["sigterm", "ignores-sigterm"])
def test_cancel_ends_the_whole_group(tmp_path: Path, arguments: list[str], grace: float) -> None:
    spec = make_spec(tmp_path, {"train.py": SLEEPER}, arguments=arguments, cancel_grace_s=grace)
    def ready(h: RecordingHooks) -> bool:
        if "child_pid" not in h.metric_names():
            return False
        if not hasattr(h, "group_before_cancel"):
            h.group_before_cancel = group_members(h.pid)
        return True

    hooks = RecordingHooks(should_cancel=ready)
    result = Executor().execute(spec, hooks)
    ended = time.monotonic()
    assert result.status == "Canceled" and result.error["message"] == "Run was canceled"
    assert ended - hooks.cancel_at < 5.0
    child = fold(hooks.events)["child_pid"]
    assert child != hooks.pid
    assert child in hooks.group_before_cancel  # the child was in the group, alive
    # The killed script's child is reparented and reaped by init: allow that a moment.
    wait_for(lambda: not group_members(hooks.pid), timeout=2.0, message="group to be gone")
    assert hooks.states[-1] == "Finalizing"


def test_timeout_fails_with_reason(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, {"train.py": "import time; time.sleep(60)"}, timeout_s=0.5)
    started = time.monotonic()
    result = Executor().execute(spec, RecordingHooks())
    assert time.monotonic() - started < 5.0
    assert result.status == "Failed"
    assert result.error["message"] == "Run exceeded its timeout of 0.5 s"


def test_metric_is_seen_before_the_script_ends(tmp_path: Path) -> None:
    # The script blocks until the test, having seen the metric, lets it go.
    spec = make_spec(tmp_path, {"train.py": """
        import os, time
        from azureml.core.run import Run
        Run.get_context().log("early", 1)
        deadline = time.monotonic() + 30
        while not os.path.exists("go") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.path.exists("go"), "never released"
        """})
    seen_running: list[bool] = []

    def release(hooks: RecordingHooks, event: dict) -> None:
        if event.get("name") == "early":
            seen_running.append(Path(f"/proc/{hooks.pid}").exists()
                                and not (spec.run_dir / "wd" / "go").exists())
            (spec.run_dir / "wd" / "go").touch()

    result = Executor().execute(spec, RecordingHooks(on_event=release))
    assert result.status == "Completed" and seen_running == [True]


@pytest.mark.parametrize("body, status, message", [
    ("from azureml.core import Run\nRun.get_context().fail(error_details='bad data')",
     "Failed", "bad data"),
    ("from azureml.core import Run\nrun = Run.get_context()\nrun.complete()", "Completed", None),
    ("from azureml.core import Run\nimport time\nRun.get_context().cancel()\ntime.sleep(60)",
     "Canceled", "Run was canceled by the script (run.cancel())"),
], ids=["fail", "complete", "cancel"])
def test_script_sets_its_status(tmp_path: Path, body: str, status: str, message: str) -> None:
    result = Executor().execute(make_spec(tmp_path, {"train.py": body}))
    assert result.status == status
    assert (result.error or {}).get("message") == message


def test_layout_env_and_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLOCAL_API_TOKEN", "secret-token")
    spec = make_spec(tmp_path, {"src/helper.py": "VALUE = 42\n", "src/train.py": """
        import json, os, sys
        import helper  # the script's own folder comes first on sys.path
        os.makedirs("outputs/sub", exist_ok=True)
        json.dump({"env": dict(os.environ), "argv": sys.argv, "cwd": os.getcwd(),
                   "helper": helper.VALUE}, open("outputs/sub/seen.json", "w"))
        open("logs/mine.txt", "w").write("log line")
        os.symlink("/etc/passwd", "outputs/leak")
        print("to stdout"); print("to stderr", file=sys.stderr)
        """}, script="src/train.py", arguments=["--alpha", "0.5"], env={"EXTRA": "1"})
    result = Executor().execute(spec)
    assert result.status == "Completed", result.error
    seen = json.loads((spec.run_dir / "outputs/sub/seen.json").read_text())
    env = seen["env"]
    assert env["AZUREML_RUN_ID"] == "exp_1_test" and env["AZUREML_ARM_PROJECT_NAME"] == "exp"
    assert env["AZUREML_EXPERIMENT_NAME"] == "exp" and env["EXTRA"] == "1"
    assert env["AMLOCAL_RUN_DIR"] == str(spec.run_dir.resolve())
    assert env["PYTHONUNBUFFERED"] == "1" and "AMLOCAL_API_TOKEN" not in env
    assert seen["argv"] == ["src/train.py", "--alpha", "0.5"] and seen["helper"] == 42
    assert seen["cwd"] == str((spec.run_dir / "wd").resolve())
    assert (spec.run_dir / "logs/mine.txt").read_text() == "log line"
    assert not (spec.run_dir / "outputs/leak").exists()
    log = (spec.run_dir / "user_logs/std_log.txt").read_text()
    assert "to stdout" in log and "to stderr" in log


@pytest.mark.parametrize("script, python, message", [
    ("missing.py", sys.executable, "was not found in the snapshot"),
    ("../train.py", sys.executable, "must be a relative path"),
    ("train.py", "/nonexistent/python", "could not start the interpreter"),
], ids=["missing-script", "outside-script", "no-interpreter"])
def test_preparation_failures(tmp_path: Path, script: str, python: str, message: str) -> None:
    spec = make_spec(tmp_path, {"train.py": "print(1)"}, script=script, python=python)
    hooks = RecordingHooks()
    result = Executor().execute(spec, hooks)
    assert result.status == "Failed" and result.exit_code is None
    assert message in result.error["message"]
    assert hooks.states == ["Preparing"] and hooks.pid is None
    assert not (spec.run_dir / "wd").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b"not an archive"), "not a gzip-compressed tar archive"),
    (lambda p: p.unlink(), "could not unpack the snapshot"),
], ids=["not-an-archive", "missing"])
def test_bad_snapshot_fails_the_run(tmp_path: Path, damage, message: str) -> None:
    spec = make_spec(tmp_path, {"train.py": "print(1)"})
    damage(Path(spec.snapshot))
    result = Executor().execute(spec)
    assert result.status == "Failed" and message in result.error["message"]


def test_script_environment_keeps_identity(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, {"train.py": ""}, env={"AZUREML_RUN_ID": "spoof", "X": "y"})
    env = script_environment(spec, base={"PATH": "/bin", "AMLOCAL_WORKSPACE": "/w"})
    assert env["AZUREML_RUN_ID"] == "exp_1_test" and env["X"] == "y" and env["PATH"] == "/bin"
    assert "AMLOCAL_WORKSPACE" not in env
