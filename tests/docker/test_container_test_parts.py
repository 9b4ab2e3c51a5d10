"""The container test's parts that need no engine: the API's validation and queueing, the
comparison rules, the bad-input set against a real socket, and the CLI's reading of --data."""
from __future__ import annotations

import io
import json
import socket
import threading

import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.svm import SVC

from service.cli.container import read_rows
from service.cli.output import CommandError
from service.containertests import CONFIG_FILE, KIND
from service.targets import probes
from tests.conftest import assert_error


@pytest.fixture
def iris(client):
    """sklearn-iris:1 registered by upload."""
    features, labels = load_iris(return_X_y=True)
    buf = io.BytesIO()
    joblib.dump(SVC(kernel="linear").fit(features, labels), buf)
    resp = client.post("/models", content_type="multipart/form-data", data={
        "files": [(io.BytesIO(buf.getvalue()), "model.joblib")],
        "config": json.dumps({"name": "sklearn-iris", "framework": "ScikitLearn"})})
    assert resp.status_code == 201, resp.get_json()
    return "sklearn-iris:1"


def test_post_queues_a_tracked_run_with_its_config(client, app, iris):
    rows = [[5.1, 3.5, 1.4, 0.2]]
    resp = client.post("/container-tests", json={"models": [iris], "data": rows,
                                                 "requests": 10})
    assert resp.status_code == 202, resp.get_json()
    run = resp.get_json()
    assert run["kind"] == KIND and run["status"] == "Queued"
    assert run["experiment"] == "container-tests" and run["script"] == "nocode.py"
    config = json.loads((app.config["WORKSPACE"].run_dir(run["id"]) / CONFIG_FILE).read_text())
    assert config["data"] == rows and config["requests"] == 10
    assert config["spec"]["models"] == [iris] and config["spec"]["inference_config"] is None
    shown = client.get(f"/runs/{run['id']}").get_json()
    assert shown["status"] == "Queued"
    # the run queue never takes it: only the container-test loop claims this kind
    assert app.config["STORE"].claim_next_run() is None


@pytest.mark.parametrize("body, field, contains", [
    ({"models": ["sklearn-iris:9"]}, "models[0]", "not found"),
    ({"models": ["nope"]}, "models.0", "name:version"),
    ({"models": []}, "inference_config", "InferenceConfig"),
    ({"models": ["sklearn-iris:1"], "requests": 0}, "requests", None),
    ({"models": ["sklearn-iris:1"], "data": []}, "data", None),
    ({"models": ["sklearn-iris:1"], "inference_config": {
        "entry_script": "score.py", "source": {"files": {"other.py": "x = 1\n"}}}},
     "inference_config.entry_script", "not among the source files"),
    ({"models": ["sklearn-iris:1"], "inference_config": {
        "entry_script": "score.py", "source": {"files": {"score.py": "def run(:\n"}}}},
     "inference_config.entry_script", None),
    ({"models": ["sklearn-iris:1"], "experiment": "bad name"}, "experiment", None),
], ids=["unknown version", "bad model id", "no-code without a model", "zero requests",
        "no rows", "entry script missing", "syntax error", "bad experiment"])
def test_bad_requests_name_the_field(client, iris, body, field, contains):
    resp = client.post("/container-tests", json=body)
    assert_error(resp, 400, field=field, contains=contains)
    assert resp.get_json()["error"]["field"] == field


@pytest.mark.parametrize("expected, got, same", [
    (2, 2, True), (2, 0, False), (2, 2.0, False), ("setosa", "setosa", True),
    (0.5, 0.5 + 1e-8, True), (0.5, 0.5001, False), (1e-12, 0.0, True), (True, 1, False),
    ([0.1, 0.9], [0.1, 0.9], True), ([0.1, 0.9], [0.1], False),
])
def test_labels_exactly_floats_within_the_tolerance(expected, got, same):
    assert probes.same(expected, got, 1e-6) is same


def test_predictions_are_found_in_the_usual_answers():
    def answer(value):
        return probes.Answer(200, json.dumps(value), value)
    assert probes.predictions(answer({"predict": [0, 2]}), 2) == [0, 2]
    assert probes.predictions(answer([0, 2]), 2) == [0, 2]
    assert probes.predictions(answer({"result": [1, 1]}), 2) == [1, 1]
    assert probes.predictions(answer({"predict": [0]}), 2) is None  # one answer short
    assert probes.predictions(answer("0,2"), 2) is None


def test_rows_go_where_the_example_puts_them():
    assert probes.rows_key({"method": "predict", "data": [[1, 2]]}) == "data"
    assert probes.rows_key({"input_data": [{"a": 1}]}) == "input_data"
    assert probes.rows_key(None) == "data"
    body = json.loads(probes.body_for([[3, 4]], {"method": "predict", "data": [[1, 2]]}))
    assert body == {"method": "predict", "data": [[3, 4]]}


@pytest.fixture
def canned_server():
    """A socket server that answers every request with a chosen raw HTTP response."""
    server = socket.create_server(("127.0.0.1", 0))
    state = {"response": b""}

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(state["response"])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], state
    server.close()


def http(status: int, body: str) -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(body.encode())}\r\nConnection: close\r\n\r\n{body}").encode()


@pytest.mark.parametrize("status, body, passed, reason", [
    (400, '{"message": "Invalid value for parameter \'data\'"}', True, None),
    (413, '{"message": "too large"}', True, None),
    (500, '{"message": "An unexpected error occurred in scoring script."}', False, "not a 4xx"),
    (400, "bad", False, "no JSON message"),
    (400, '{"message": "Traceback (most recent call last):\\n  File \\"/x.py\\""}', False,
     "traceback"),
], ids=["400", "413", "500", "no message", "traceback"])
def test_each_bad_input_is_judged(canned_server, status, body, passed, reason):
    port, state = canned_server
    state["response"] = http(status, body)
    results = probes.send_bad_inputs(port, 4, None)
    assert [r["name"] for r in results] == ["wrong width", "wrong type", "NaN", "empty",
                                           "malformed JSON", "body over the limit"]
    assert all(r["status"] == status and r["passed"] is passed for r in results), results
    assert all(reason in r["reason"] for r in results) if reason else True


def test_data_file_csv_and_json(tmp_path):
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("a,b\n1,2.5\n3,x\n")
    assert read_rows(csv_file) == [[1.0, 2.5], [3.0, "x"]]
    json_file = tmp_path / "rows.json"
    json_file.write_text(json.dumps({"data": [[1, 2]]}))
    assert read_rows(json_file) == [[1, 2]]
    json_file.write_text("[[1, 2], [3, 4]]")
    assert read_rows(json_file) == [[1, 2], [3, 4]]
    for text in ("[]", "{not json"):
        json_file.write_text(text)
        with pytest.raises(CommandError, match="--data"):
            read_rows(json_file)
    with pytest.raises(CommandError, match="cannot read"):
        read_rows(tmp_path / "missing.csv")


def test_latency_counts_every_request_and_orders_its_percentiles(canned_server):
    port, state = canned_server
    state["response"] = http(200, '{"predict": [0]}')
    figures = probes.latency(port, b'{"data": [[1, 2, 3, 4]]}', 16, 8)
    assert figures["requests"] == 16 and figures["errors"] == 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    state["response"] = http(500, '{"message": "boom"}')
    assert probes.latency(port, b"{}", 4, 1)["errors"] == 4
