"""The iris model through real gunicorn servers: score.py and the no-code entry, routes, headers, bad input."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Iterator

import pytest
import requests

from scoring import IRIS_ENTRY_SCRIPT, NOCODE_ENTRY_SCRIPT
from tests.scoring.conftest import IRIS_ROWS, Server, assert_error


@pytest.fixture(scope="module")
def iris_server(tmp_path_factory: pytest.TempPathFactory, iris_model_dir: Path) -> Iterator[Server]:
    """The iris score.py served with its model."""
    server = Server(tmp_path_factory.mktemp("iris"), IRIS_ENTRY_SCRIPT, iris_model_dir,
                    env={"MAX_REQUEST_BYTES": str(1024 * 1024)}).wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nocode_server(tmp_path_factory: pytest.TempPathFactory, iris_model_dir: Path) -> Iterator[Server]:
    """The no-code entry serving the same model."""
    server = Server(tmp_path_factory.mktemp("nocode"), NOCODE_ENTRY_SCRIPT, iris_model_dir).wait_ready()
    yield server
    server.stop()


def test_iris_score_py_predicts_classes(iris_server: Server) -> None:
    response = iris_server.post({"data": IRIS_ROWS})
    assert response.status_code == 200
    assert response.json() == [0, 2]
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["x-ms-run-function-failed"] == "False"
    exec_ms = response.headers["x-ms-run-fn-exec-ms"]
    assert float(exec_ms) > 0 and len(exec_ms.split(".")[1]) == 3


def test_nocode_predicts_keyed_by_method(nocode_server: Server) -> None:
    assert nocode_server.post({"data": IRIS_ROWS}).json() == {"predict": [0, 2]}
    assert nocode_server.post({"data": IRIS_ROWS, "method": "predict"}).json() == {"predict": [0, 2]}


def test_nocode_method_the_model_lacks_names_the_ones_it_has(nocode_server: Server) -> None:
    assert_error(nocode_server.post({"data": IRIS_ROWS, "method": "predict_proba"}), 400,
                 "'method'", "predict_proba", "it has: predict")


def test_get_score_takes_query_arguments(iris_server: Server) -> None:
    response = requests.get(iris_server.url + "/score", params={"data": json.dumps(IRIS_ROWS)}, timeout=10)
    assert response.status_code == 200 and response.json() == [0, 2]


def test_options_score_is_empty_200(iris_server: Server) -> None:
    response = requests.options(iris_server.url + "/score", timeout=10)
    assert response.status_code == 200 and response.content == b""


def test_health_swagger_and_unknowns(iris_server: Server) -> None:
    assert requests.get(iris_server.url + "/", timeout=10).text == "Healthy"
    v2 = requests.get(iris_server.url + "/swagger.json", timeout=10).json()
    assert v2["swagger"] == "2.0"
    assert v2["definitions"]["ServiceInput"]["properties"]["data"]["format"] == "numpy.ndarray"
    assert requests.get(iris_server.url + "/swagger.json?version=3", timeout=10).json()["openapi"] == "3.0.3"
    assert requests.get(iris_server.url + "/swagger.json?version=3.1", timeout=10).json()["openapi"] == "3.1.0"
    assert_error(requests.get(iris_server.url + "/swagger.json?version=4", timeout=10), 404,
                 "Swagger version [4] is not valid. Supported versions: [2, 3, 3.1].")
    assert_error(requests.get(iris_server.url + "/nowhere", timeout=10), 404, "was not found")
    put = requests.put(iris_server.url + "/score", data="{}", timeout=10)
    assert_error(put, 405, "method is not allowed")
    assert "POST" in put.headers["Allow"]


def test_nocode_swagger_example_comes_from_the_model(nocode_server: Server) -> None:
    schema = requests.get(nocode_server.url + "/swagger.json", timeout=10).json()["definitions"]["ServiceInput"]
    assert schema["properties"]["data"]["format"] == "numpy.ndarray"
    assert len(schema["example"]["data"][0]) == 4
    assert schema["example"]["method"] == "predict"


def test_request_ids_are_echoed(iris_server: Server) -> None:
    made_up = iris_server.post({"data": IRIS_ROWS})
    assert len(made_up.headers["x-request-id"]) == 36
    assert made_up.headers["x-ms-request-id"] == made_up.headers["x-request-id"]
    sent = iris_server.post({"data": IRIS_ROWS}, headers={"x-request-id": "abc", "x-ms-client-request-id": "cli"})
    assert sent.headers["x-request-id"] == "abc"
    assert sent.headers["x-ms-client-request-id"] == "cli"
    assert sent.headers["x-ms-request-id"] == "cli"


@pytest.mark.parametrize("header", ["x-request-id", "x-ms-request-id", "x-ms-client-request-id"])
def test_request_id_over_100_chars_is_431(iris_server: Server, header: str) -> None:
    assert_error(iris_server.post({"data": IRIS_ROWS}, headers={header: "x" * 101}), 431, "100 characters")


DEEP = b'{"data": ' + b"[" * 5000 + b"]" * 5000 + b"}"

BAD_DECORATED = [
    pytest.param(b"{not json", "application/json", 400, ["could not be decoded as JSON"], id="invalid-json"),
    pytest.param(b"", "application/json", 400, ["POST body is empty"], id="empty-body"),
    pytest.param(b"[1, 2]", "application/json", 400, ["should be a JSON dictionary"], id="not-an-object"),
    pytest.param(b'{"rows": []}', "application/json", 400, ["'data' parameter"], id="missing-parameter"),
    pytest.param(b'{"data": [[1,2,3,4]]}', "text/plain", 415, ["application/json"], id="wrong-content-type"),
    pytest.param(b'{"data": [[5.1, 3.5, 1.4]]}', "application/json", 400,
                 ["'data'", "size 3 on dimension #1, while expected value is 4"], id="three-columns"),
    pytest.param(b'{"data": [["a", "b", "c", "d"]]}', "application/json", 400, ["'data'", "'a'"], id="strings"),
    pytest.param(b'{"data": [[NaN, 1, 2, 3]]}', "application/json", 400, ["JSON"], id="nan-literal"),
    pytest.param(b'{"data": [[Infinity, 1, 2, 3]]}', "application/json", 400, ["JSON"], id="infinity-literal"),
    pytest.param(b'{"data": [[[5.1, 3.5, 1.4, 0.2]]]}', "application/json", 400,
                 ["'data'", "2 dimensions is expected; input has 3"], id="nested-one-level-too-deep"),
    pytest.param(DEEP, "application/json", 400, ["JSON"], id="nested-5000-deep"),
    pytest.param(b'{"data": 5}', "application/json", 400, ["'data'", "expected an array"], id="scalar"),
    pytest.param(b'{"data": [[1,2,3,4],[1,2]]}', "application/json", 400, ["'data'"], id="ragged-rows"),
    pytest.param(b'{"data": [[5.1, 3.5, 1.4, 0.2], [5.1, null, 1.4, 0.2]]}', "application/json", 400,
                 ["'data'", "row 1, column 1 is null"], id="null"),
    pytest.param(b'{"data": [[5.1, 3.5, 1.4, 0.2]]}\xff\xfe', "application/json", 400, ["JSON"], id="non-utf8"),
]


@pytest.mark.parametrize("body, content_type, status, fragments", BAD_DECORATED)
def test_bad_input_to_decorated_run_is_4xx(iris_server: Server, body: bytes, content_type: str, status: int,
                                           fragments: list[str]) -> None:
    assert_error(iris_server.post(body, content_type), status, *fragments)
    assert iris_server.post({"data": IRIS_ROWS}).json() == [0, 2]  # and the worker is fine


BAD_NOCODE = [
    pytest.param({"data": [[5.1, None, 1.4, 0.2]]}, ["row 0, column 1", "null"], id="null"),
    pytest.param({"data": [[5.1, 3.5, 1.4]]}, ["4 values, got 3"], id="three-columns"),
    pytest.param({"data": [["x", 3.5, 1.4, 0.2]]}, ["numbers", "'x'"], id="strings"),
    pytest.param({"data": []}, ["non-empty list"], id="no-rows"),
    pytest.param({"data": [5.1, 3.5, 1.4, 0.2]}, ["2 dimensions"], id="flat-row"),
    pytest.param({"data": [{"a": 1}]}, ["no feature names"], id="objects-without-names"),
    pytest.param({"data": IRIS_ROWS, "method": 3}, ["'method'"], id="method-not-a-string"),
    pytest.param({"data": IRIS_ROWS, "method": "fit"}, ["'method'", "it has: predict"], id="method-fit"),
]


@pytest.mark.parametrize("body, fragments", BAD_NOCODE)
def test_bad_input_to_nocode_is_400(nocode_server: Server, body: dict, fragments: list[str]) -> None:
    assert_error(nocode_server.post(body), 400, "'data'" if "method" not in body else "'method'", *fragments)


def test_nocode_infinity_beyond_float_range_is_400(nocode_server: Server) -> None:
    assert_error(nocode_server.post(b'{"data": [[1e999, 1, 2, 3]]}'), 400, "infinity")


def _raw_request(url: str, head: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
    return response


def test_200_mb_body_is_refused_before_it_is_read(iris_server: Server) -> None:
    head = (b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200000000\r\n\r\n" + b"{" * 65536)  # then we stop sending
    # The rest never comes: a server that read the body before refusing it would still be reading
    # when the client timeout (10 s) ends the read, and answer that failure, not a 413.
    response = _raw_request(iris_server.url, head)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"MAX_REQUEST_BYTES" in response
    assert iris_server.post({"data": IRIS_ROWS}).json() == [0, 2]


def test_chunked_body_over_the_limit_is_413(iris_server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b" " * (512 * 1024)  # 1.5 MiB in all, over the fixture's 1 MiB limit
    response = requests.post(iris_server.url + "/score", data=chunks(),
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert_error(response, 413, "MAX_REQUEST_BYTES")
