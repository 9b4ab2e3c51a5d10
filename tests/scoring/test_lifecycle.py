"""Start-up failures, run() failures and timeouts, keys, metrics across workers, killed workers."""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import requests

from scoring import NOCODE_ENTRY_SCRIPT
from tests.polling import wait_for
from tests.scoring import scripts
from tests.scoring.conftest import IRIS_ROWS, Gate, Server, assert_error, listeners, train_iris

PID_SCRIPT = """
import os
def init():
    pass
def run(data):
    return os.getpid()
"""


@pytest.mark.parametrize("source, line", [
    pytest.param(scripts.NO_RUN, "does not have a run() function defined", id="no-run"),
    pytest.param(scripts.INIT_RAISES, "User's init function failed: ValueError('model file is corrupt')",
                 id="init-raises"),
    pytest.param(scripts.SYNTAX_ERROR, "Failed to import entry script", id="syntax-error"),
    pytest.param(scripts.BAD_SIGNATURE, "run() cannot accept positional-only arguments, *args, or **kwargs",
                 id="star-args"),
])
def test_startup_failure_stops_the_server(start_server: Callable[..., Server], write_script: Callable,
                                          source: str, line: str) -> None:
    server = start_server(write_script("score.py", source), workers=2)
    assert server.wait_exit() == 3, server.log
    assert line in server.log
    if "init" in line:
        assert "Traceback" in server.log  # the user's error, with where it happened


@pytest.mark.parametrize("files, found", [
    pytest.param([], "found 0", id="no-model-file"),
    pytest.param(["a.joblib", "sub/b.pkl"], "found 2", id="two-model-files"),
])
def test_nocode_needs_exactly_one_model_file(start_server: Callable[..., Server], tmp_path: Path,
                                             files: list[str], found: str) -> None:
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    for name in files:
        train_iris(model_dir / os.path.dirname(name), os.path.basename(name))
    server = start_server(NOCODE_ENTRY_SCRIPT, model_dir)
    assert server.wait_exit() == 3
    assert "Expected exactly one model file (.joblib, .pkl, .pickle)" in server.log and found in server.log
    assert "AZUREML_MODEL_DIR holds:" in server.log


def test_nocode_rows_by_feature_name(start_server: Callable[..., Server], tmp_path: Path) -> None:
    import joblib
    path = train_iris(tmp_path / "named", "model.pkl")
    model = joblib.load(path)
    model.feature_names_in_ = np.array(["sl", "sw", "pl", "pw"], dtype=object)
    joblib.dump(model, path)
    server = start_server(NOCODE_ENTRY_SCRIPT, tmp_path / "named").wait_ready()
    rows = [dict(zip(["sl", "sw", "pl", "pw"], row)) for row in IRIS_ROWS]
    assert server.post({"data": rows}).json() == {"predict": [0, 2]}
    assert server.post({"data": IRIS_ROWS}).json() == {"predict": [0, 2]}
    assert_error(server.post({"data": [{"sl": 1, "sw": 2}]}), 400, "'data'", "row 0 lacks feature(s) ['pl', 'pw']")


def test_nocode_value_the_estimator_refuses_is_400(start_server: Callable[..., Server], tmp_path: Path) -> None:
    # Tree models cast rows to float32: 1e39 is finite as a float64 (it passes our checks) but sklearn
    # refuses it. That is the client's input, so a 400 naming 'data' and sklearn's reason, not a 500.
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    features, labels = load_iris(return_X_y=True)
    (tmp_path / "forest").mkdir()
    joblib.dump(RandomForestClassifier(n_estimators=5, random_state=0).fit(features, labels),
                tmp_path / "forest" / "model.joblib")
    server = start_server(NOCODE_ENTRY_SCRIPT, tmp_path / "forest").wait_ready()
    body = assert_error(server.post({"data": [[1e39, 3.5, 1.4, 0.2]]}, headers={"x-request-id": "req-7"}),
                        400, "Invalid value for parameter 'data'", "too large for dtype('float32')")
    assert body["request_id"] == "req-7"
    assert server.post({"data": IRIS_ROWS}).json() == {"predict": [0, 2]}


def test_run_exception_is_500_with_request_id_and_traceback_only_in_log(
        start_server: Callable[..., Server], write_script: Callable) -> None:
    server = start_server(write_script("score.py", scripts.RAISING)).wait_ready()
    response = server.post("{}", headers={"x-request-id": "req-42"})
    body = assert_error(response, 500, "An unexpected error occurred in scoring script. Check the logs")
    assert body["request_id"] == "req-42" and "secret" not in response.text
    assert response.headers["x-ms-run-function-failed"] == "True"
    wait_for(lambda: "secret detail" in server.log, timeout=10, message="traceback in the log")
    assert re.search(r"request req-42: .*\nTraceback", server.log)


# run() calls that would outlast the request's own 30 s timeout: only the scoring deadline ends them
# in time, so an answer at all says the deadline stopped run() (no clock reading needed).
BUSY = """
import time
def init():
    pass
def run(data):
    end = time.monotonic() + 600
    while time.monotonic() < end:
        pass
    return "done"
"""

SLEEPING = """
import time
def init():
    pass
def run(data):
    time.sleep(600)
    return "done"
"""


@pytest.mark.parametrize("worker_class, source", [
    pytest.param("gthread", BUSY, id="gthread-busy-run"),
    pytest.param("sync", SLEEPING, id="sync-sleeping-run"),  # SIGALRM interrupts even a sleep, as in Azure
    pytest.param("keepalive", SLEEPING, id="keepalive-sleeping-run"),  # the default: SIGALRM too
])
def test_slow_run_times_out_and_the_server_keeps_answering(start_server: Callable[..., Server],
                                                           write_script: Callable, worker_class: str,
                                                           source: str) -> None:
    server = start_server(write_script("score.py", source),
                          env={"SCORING_TIMEOUT_MS": "300", "WORKER_CLASS": worker_class}).wait_ready()
    response = server.post("{}")
    assert_error(response, 500, "Scoring timeout after 300 ms")
    assert response.headers["x-ms-run-function-failed"] == "True"
    assert requests.get(server.url + "/", timeout=10).text == "Healthy"


def test_non_serialisable_result_is_a_generic_500(start_server: Callable[..., Server],
                                                  write_script: Callable) -> None:
    server = start_server(write_script("score.py", scripts.NDARRAY)).wait_ready()
    response = server.post("{}")
    assert_error(response, 500, "An unexpected internal error occurred")
    assert response.headers["x-ms-run-function-failed"] == "False"


def test_undecorated_run_gets_the_body_and_headers(start_server: Callable[..., Server],
                                                   write_script: Callable) -> None:
    server = start_server(write_script("score.py", scripts.HEADERS)).wait_ready()
    response = server.post(b"\x00 raw text", content_type="text/plain", headers={"X-Custom": "yes"})
    assert response.json() == {"custom": "yes", "data": "\x00 raw text"}
    assert_error(server.post(b"\xff\xfe", content_type="text/plain"), 400, "cannot be decoded as UTF-8")


def test_keys_guard_score_and_swagger_but_not_health(start_server: Callable[..., Server], iris_model_dir: Path,
                                                     write_script: Callable) -> None:
    from scoring import IRIS_ENTRY_SCRIPT
    server = start_server(IRIS_ENTRY_SCRIPT, iris_model_dir, env={"AMLOCAL_SCORING_KEYS": "prim-1,sec-2"})
    server.wait_ready()
    assert_error(server.post({"data": IRIS_ROWS}), 401, "Bearer")
    assert_error(server.post({"data": IRIS_ROWS}, headers={"Authorization": "Bearer nope"}), 401)
    assert_error(server.post({"data": IRIS_ROWS}, headers={"Authorization": "prim-1"}), 401)
    for key in ("prim-1", "sec-2"):
        assert server.post({"data": IRIS_ROWS}, headers={"Authorization": f"Bearer {key}"}).json() == [0, 2]
    assert_error(requests.get(server.url + "/swagger.json", timeout=10), 401)
    assert requests.get(server.url + "/swagger.json", headers={"Authorization": "Bearer sec-2"},
                        timeout=10).status_code == 200
    assert requests.get(server.url + "/", timeout=10).text == "Healthy"


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_sum_over_two_workers(start_server: Callable[..., Server], write_script: Callable,
                                      gate: Gate) -> None:
    server = start_server(write_script("score.py", scripts.GATED_PID), workers=2, env=gate.env).wait_ready()
    held = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    held.request("POST", "/score", body="gate")
    gate.hold()  # one worker is inside run("gate"), so the other one answers the next request
    other_pid = server.post("{}").json()
    gate.release()
    held_pid = json.loads(held.getresponse().read())
    held.close()
    assert held_pid != other_pid
    server.post(b"{}", headers={"x-request-id": "y" * 101})
    text = requests.get(server.url + "/metrics", timeout=10).text
    assert _metric(text, "amlocal_scoring_requests_total", route="/score", status="200") == 2
    assert _metric(text, "amlocal_scoring_requests_total", route="/score", status="431") == 1
    assert _metric(text, "amlocal_scoring_run_seconds_count") == 2


def _workers(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def test_killed_worker_is_replaced(start_server: Callable[..., Server], write_script: Callable) -> None:
    server = start_server(write_script("score.py", PID_SCRIPT)).wait_ready()
    victim = server.post("{}").json()
    assert victim in _workers(server.process.pid)
    os.kill(victim, signal.SIGKILL)  # a worker of the master this test started
    replacement = wait_for(lambda: (_workers(server.process.pid) - {victim}) or None, timeout=60,
                           message="a new worker")
    answered = wait_for(lambda: requests.post(server.url + "/score", data="{}", timeout=5).json(), timeout=60,
                        message="the replacement worker answering")
    assert answered in replacement and answered != victim
    assert server.process.poll() is None


def test_console_script_and_missing_entry_script(start_server: Callable[..., Server], write_script: Callable,
                                                  tmp_path: Path) -> None:
    import subprocess
    import sys
    console = str(Path(sys.executable).parent / "amlocal-scoring")
    script = write_script("score.py", PID_SCRIPT)
    server = start_server(script, command=[console, "--entry_script", str(script), "--port", "{port}",
                                           "--host", "127.0.0.1"]).wait_ready()
    assert isinstance(server.post("{}").json(), int)
    missing = subprocess.run([console], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if k != "AZUREML_ENTRY_SCRIPT"})
    assert missing.returncode == 1 and "--entry_script" in missing.stderr


def test_health_port_and_reuse_port_with_preload(start_server: Callable[..., Server], write_script: Callable,
                                                 tmp_path: Path) -> None:
    from tests.scoring.conftest import free_port
    health = free_port()
    script = write_script("score.py", PID_SCRIPT)
    server = start_server(script, command=[sys.executable, "-m", "scoring", "--entry_script", str(script),
                                           "--port", "{port}", "--health_port", str(health),
                                           "--reuse_port"]).wait_ready()
    assert requests.get(f"http://127.0.0.1:{health}/", timeout=10).text == "Healthy"
    assert requests.post(f"http://127.0.0.1:{health}/score", data="{}", timeout=10).json() in \
        _workers(server.process.pid)
    # The script is loaded in the master (preload), so a second generation can share the port.
    second = start_server(script, command=[sys.executable, "-m", "scoring", "--entry_script", str(script),
                                           "--port", str(server.port), "--reuse_port"])
    # Listening, not just loaded: with preload the script is loaded before the port is bound.
    wait_for(lambda: "ready for serving traffic" in second.log and len(listeners(server.port)) == 2,
             timeout=60, message="second generation listening")
    assert second.process.poll() is None
    bad = start_server(write_script("bad.py", scripts.INIT_RAISES),
                       command=[sys.executable, "-m", "scoring", "--entry_script", str(tmp_path / "bad.py"),
                                "--port", "{port}", "--reuse_port"])
    assert bad.wait_exit() == 3 and "User's init function failed" in bad.log
