"""Runs end to end against a real service: gunicorn + agent on 127.0.0.1, real subprocesses."""
from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import joblib

from tests.conftest import REPO, TOKEN, Service, free_port, run_processes
from tests.polling import wait_for

TRAIN_IRIS = (REPO / "training" / "train_iris.py").read_text()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_train_iris_completes_with_azure_metrics_and_a_loadable_model(service, tmp_path):
    run = service.submit({"train_iris.py": TRAIN_IRIS}, "train_iris.py", experiment="iris")
    done = service.wait_run(run["id"])
    assert done["status"] == "Completed", done
    assert list(done["status_times"]) == ["NotStarted", "Queued", "Preparing", "Running",
                                          "Finalizing", "Completed"]
    metrics = service.http("GET", f"/runs/{run['id']}/metrics").json()["metrics"]
    assert round(metrics["Accuracy"], 4) == 0.9737
    assert metrics["Kernel type"] == "linear" and metrics["Penalty"] == 1.0
    files = [f["path"] for f in service.http("GET", f"/runs/{run['id']}/files").json()["files"]]
    assert "outputs/model.joblib" in files and "user_logs/std_log.txt" in files
    blob = service.http("GET", f"/runs/{run['id']}/files/outputs/model.joblib").content
    model = joblib.load(io.BytesIO(blob))
    assert model.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]).tolist() == [0, 2]
    log = service.http("GET", f"/runs/{run['id']}/logs").text
    assert "Accuracy" in log or log  # the script's output is there
    assert done["properties"] is not None and done["script"] == "train_iris.py"


def test_a_raising_script_fails_with_exit_code_and_last_line(service):
    script = "import sys\nprint('starting')\nraise ValueError('boom at step 3')\n"
    done = service.wait_run(service.submit({"bad.py": script}, "bad.py")["id"])
    assert done["status"] == "Failed"
    assert done["error"]["exit_code"] == 1
    assert done["error"]["message"] == "ValueError: boom at step 3"
    assert "Traceback" in done["error"]["stderr_tail"]


def test_cancel_ends_a_sleeping_run_and_its_children_within_5s(service):
    # The script cannot write outside its run (it is sandboxed): it logs when its child runs,
    # and the test finds the run's processes by the run id in their environment.
    script = ("import subprocess, sys, time\nfrom azureml.core import Run\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
              "Run.get_context().log('child_started', 1)\n"
              "time.sleep(600)\n")
    run = service.submit({"sleepy.py": script}, "sleepy.py")
    wait_for(lambda: service.http("GET", f"/runs/{run['id']}/metrics").json()["metrics"],
             timeout=30, message="the child to start")
    pids = run_processes(run["id"])
    assert len(pids) >= 3  # the supervisor, the script and its child (and the sandbox's)
    started = __import__("time").monotonic()
    assert service.http("POST", f"/runs/{run['id']}/cancel").status_code == 202
    done = service.wait_run(run["id"], timeout=10)
    assert done["status"] == "Canceled"
    assert __import__("time").monotonic() - started < 5
    for pid in pids:
        wait_for(lambda: not _alive(pid), timeout=5, message=f"pid {pid} to end")


def test_timeout_fails_the_run_with_a_clear_reason(service):
    run = service.submit({"slow.py": "import time\ntime.sleep(60)\n"}, "slow.py", timeout_s=1)
    done = service.wait_run(run["id"], timeout=30)
    assert done["status"] == "Failed" and "timeout" in done["error"]["message"].lower()


def test_a_metric_is_visible_while_the_run_goes(service, visible_dir):
    gate = visible_dir / "gate"
    script = ("import os, time\nfrom azureml.core.run import Run\nrun = Run.get_context()\n"
              "run.log('loss', 0.5)\nrun.tag('phase', 'one')\n"
              f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n"
              "run.log('loss', 0.25)\n")
    run = service.submit({"live.py": script}, "live.py")
    metrics = wait_for(lambda: service.http("GET", f"/runs/{run['id']}/metrics").json()
                       ["metrics"], timeout=30, message="first metric")
    assert metrics == {"loss": 0.5}
    assert service.run(run["id"])["status"] == "Running"
    assert service.run(run["id"])["tags"] == {"phase": "one"}
    gate.write_text("go")
    assert service.wait_run(run["id"])["status"] == "Completed"
    assert service.http("GET", f"/runs/{run['id']}/metrics").json()["metrics"] == {
        "loss": [0.5, 0.25]}


def test_fifty_runs_from_ten_threads_all_complete(service):
    ids, errors = [], []

    def submit_five():
        try:
            for _ in range(5):
                ids.append(service.submit({"t.py": "print('ok')"}, "t.py", experiment="many")["id"])
        except Exception as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=submit_five) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(ids) == 50 and len(set(ids)) == 50
    for run_id in ids:
        assert service.wait_run(run_id, timeout=180)["status"] == "Completed"
    listed = service.http("GET", "/experiments/many/runs").json()["runs"]
    assert sorted(r["id"] for r in listed) == sorted(ids)


def test_kill_9_of_the_agent_fails_its_run_and_loses_nothing_else(tmp_path):
    svc = Service(tmp_path / "ws", free_port()).start()
    try:
        first = svc.submit({"t.py": "from azureml.core import Run\nRun.get_context().log('m', 1)\n"
                            "open('outputs/o.txt', 'w').write('kept')\n"}, "t.py")
        assert svc.wait_run(first["id"])["status"] == "Completed"
        sleepy = svc.submit({"s.py": "import time\nfrom azureml.core import Run\n"
                             "Run.get_context().log('started', 1)\ntime.sleep(600)\n"}, "s.py")
        wait_for(lambda: svc.run(sleepy["id"])["status"] == "Running" and svc.http(
            "GET", f"/runs/{sleepy['id']}/metrics").json()["metrics"], timeout=30,
                 message="sleepy run running")
        pids = run_processes(sleepy["id"])
        assert pids
        os.kill(svc.agent_pid(), signal.SIGKILL)
        svc.stop()
        svc.start()
        done = svc.wait_run(sleepy["id"], timeout=30)
        assert done["status"] == "Failed"
        assert done["error"]["message"] == "the agent stopped while the run was running"
        wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=10,
                 message="orphaned script to be killed")
        assert svc.run(first["id"])["status"] == "Completed"
        assert svc.http("GET", f"/runs/{first['id']}/metrics").json()["metrics"] == {"m": 1}
        assert svc.http("GET", f"/runs/{first['id']}/files/outputs/o.txt").text == "kept"
    finally:
        svc.stop()


def test_cli_submit_wait_streams_the_log_and_reports_the_status(service, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.py").write_text("import sys\nprint('hello from', sys.argv[1:])\n")
    (src / "bad.py").write_text("raise SystemExit(3)\n")
    (src / ".amlignore").write_text("big/\n")
    (src / "big").mkdir()
    (src / "big" / "ignored.bin").write_bytes(b"x" * 10)
    env = {**os.environ, "AMLOCAL_URL": service.url, "AMLOCAL_API_TOKEN": TOKEN}
    cli = [sys.executable, "-m", "service.cli", "run", "submit", str(src)]
    ok = subprocess.run(cli + ["ok.py", "--experiment", "cli", "--wait", "--", "--x", "1"],
                        env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "hello from ['--x', '1']" in ok.stdout and "Execution Summary" in ok.stdout
    bad = subprocess.run(cli + ["bad.py", "--experiment", "cli", "--wait", "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and json.loads(bad.stdout)["status"] == "Failed"
    listed = subprocess.run([sys.executable, "-m", "service.cli", "run", "list", "--experiment",
                             "cli", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert len(json.loads(listed.stdout)) == 2


def test_non_finite_metrics_come_back_as_strict_json(service):
    script = ("from azureml.core.run import Run\nrun = Run.get_context()\n"
              "run.log('loss', float('nan'))\nrun.log('loss', 0.5)\nrun.log('ratio', float('-inf'))\n"
              "run.log_list('spread', [1.0, float('inf')])\n")
    run = service.submit({"nan.py": script}, "nan.py")
    assert service.wait_run(run["id"])["status"] == "Completed"
    text = service.http("GET", f"/runs/{run['id']}/metrics").text

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")
    metrics = json.loads(text, parse_constant=refuse)["metrics"]
    assert metrics == {"loss": ["NaN", 0.5], "ratio": "-Infinity", "spread": [1.0, "Infinity"]}
    from service.cli.client import non_finite_floats
    back = non_finite_floats(metrics)
    assert math.isnan(back["loss"][0]) and back["ratio"] == -math.inf and back["spread"][1] == math.inf
