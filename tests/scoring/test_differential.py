"""Differential test: the same entry scripts and requests under azmlinfsrv 1.5.1 and under ours.

Status codes, bodies and headers must be identical except for DIFFERENCES below (also in the README).
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import pytest
import requests
from filelock import FileLock
from PIL import Image

from tests.samples.notebooks import SAMPLES, notebook_cell
from tests.scoring import scripts
from tests.scoring.conftest import Server

pytestmark = pytest.mark.peers

PEER_DIR = Path(__file__).resolve().parents[2] / ".peers" / "azmlinfsrv"
# pillow and dill: Azure's samples under tests/samples/azure need them (ours has them installed).
PEER_REQUIREMENTS = ["azureml-inference-server-http==1.5.1", "scikit-learn", "joblib", "numpy", "pillow",
                     "dill"]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# Headers whose values legitimately differ (README "Differences from azmlinfsrv").
IGNORED_HEADERS = {
    "date",                 # the clock
    "connection",           # ours keeps connections alive (WORKER_CLASS=keepalive); azmlinfsrv's sync worker closes them
    "x-ms-server-version",  # azmlinfsrv/1.5.1 vs amlocal-scoring/0.1.0 (HTTP_X_MS_SERVER_VERSION overrides)
    "allow",                # ours lists the methods on 405, as HTTP requires; azmlinfsrv omits it
}


@pytest.fixture(scope="session")
def peer_python() -> Path:
    """The azmlinfsrv venv under .peers/ (gitignored), built once with uv and kept across runs."""
    python = PEER_DIR / "bin" / "python"
    ready = PEER_DIR / ".amlocal-ready"
    PEER_DIR.parent.mkdir(exist_ok=True)
    with FileLock(str(PEER_DIR.parent / "azmlinfsrv.lock")):
        if not ready.exists() or ready.read_text() != " ".join(PEER_REQUIREMENTS):
            uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
            if not python.exists():
                subprocess.run([uv, "venv", "--python", os.path.realpath(sys.executable), str(PEER_DIR)],
                               check=True, timeout=300)
            subprocess.run([uv, "pip", "install", "--python", str(python), *PEER_REQUIREMENTS],
                           check=True, timeout=900)
            ready.write_text(" ".join(PEER_REQUIREMENTS))
    return python


class Exchange(NamedTuple):
    """One request: method, path (with query), body, headers."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = {}


def _normalise(response: requests.Response, ours: bool) -> dict[str, Any]:
    """What must match: status, body (our error bodies minus request_id) and headers."""
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in IGNORED_HEADERS}
    for name in ("x-request-id", "x-ms-request-id"):  # made-up ids: same shape, not same value
        if UUID.match(headers.get(name, "")):
            headers[name] = "<uuid4>"
    if "x-ms-run-fn-exec-ms" in headers:
        assert re.fullmatch(r"\d+\.\d{3}", headers["x-ms-run-fn-exec-ms"])
        headers["x-ms-run-fn-exec-ms"] = "<ms>"
    body: Any = response.content
    if response.headers.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        if ours and response.status_code >= 400:
            # Ours adds the request id to error bodies (so Content-Length differs too).
            request_id = body.pop("request_id")
            assert request_id and request_id == response.headers.get("x-request-id", request_id)
            headers.pop("content-length", None)
        elif not ours and response.status_code >= 400:
            headers.pop("content-length", None)
    return {"status": response.status_code, "body": body, "headers": headers}


def _send(url: str, exchange: Exchange) -> requests.Response:
    return requests.request(exchange.method, url + exchange.path, data=exchange.body,
                            headers=exchange.headers, timeout=30)


JSON = {"Content-Type": "application/json"}
COMMON = [
    Exchange("GET", "/"),
    Exchange("GET", "/nowhere"),
    Exchange("PUT", "/score", b"{}", JSON),
    Exchange("OPTIONS", "/score"),
    Exchange("GET", "/swagger.json?version=4"),
    Exchange("POST", "/score", b'{"data": [[1, 2, 3, 4]]}', {**JSON, "x-request-id": "rid-1"}),
    Exchange("POST", "/score", b'{"data": [[1, 2, 3, 4]]}', {**JSON, "x-ms-request-id": "legacy-1"}),
    Exchange("POST", "/score", b'{"data": [[1, 2, 3, 4]]}', {**JSON, "x-ms-client-request-id": "client-1",
                                                              "TraceId": "trace-1"}),
    Exchange("POST", "/score", b"{}", {**JSON, "x-request-id": "r" * 101}),
]
CASES: dict[str, tuple[str, dict[str, str], list[Exchange]]] = {
    "undecorated": (scripts.UNDECORATED, {}, COMMON + [
        Exchange("POST", "/score", b'{"a": [1, 2.5, "x", null]}', JSON),
        Exchange("POST", "/score", b'{"no": "content type"}'),
        Exchange("POST", "/score", b'"just a string"', {"Content-Type": "text/plain"}),
        Exchange("POST", "/score", b"not json at all", {"Content-Type": "text/plain"}),
        Exchange("POST", "/score", b"\xff\xfe", {"Content-Type": "text/plain"}),
        Exchange("GET", "/score?a=1&b=[1,2]&c=x&c=y"),
    ]),
    "decorated": (scripts.DECORATED, {}, COMMON + [
        Exchange("POST", "/score", b'{"data": [[1, 2, 3, 4], [0.5, 0, 0, 0]], "scale": 2}', JSON),
        Exchange("POST", "/score", b'{"data": [[1, 2, 3, 4]], "extra": true}', JSON),
        Exchange("POST", "/score", b'{"scale": 2}', JSON),
        Exchange("POST", "/score", b'{"data": [[1, 2, 3, 4]]}', {"Content-Type": "text/plain"}),
        Exchange("POST", "/score", b"", JSON),
        Exchange("POST", "/score", b"[1, 2]", JSON),
        Exchange("GET", "/score?data=[[1,2,3,4]]&scale=3"),
    ]),
    "raising": (scripts.RAISING, {}, [Exchange("POST", "/score", b"{}", JSON),
                                      Exchange("POST", "/score", b"{}", {**JSON, "x-request-id": "boom"})]),
    "slow": (scripts.SLOW, {"SCORING_TIMEOUT_MS": "500"}, [Exchange("POST", "/score", b"{}", JSON)]),
    "headers": (scripts.HEADERS, {}, [Exchange("POST", "/score", b"text", {"Content-Type": "text/plain",
                                                                          "X-Custom": "abc"})]),
    "ndarray": (scripts.NDARRAY, {}, [Exchange("POST", "/score", b"{}", JSON)]),
}


@pytest.fixture
def pair(tmp_path: Path, peer_python: Path, request: pytest.FixtureRequest) -> Iterator[Callable]:
    """Start the same script under azmlinfsrv (its gunicorn, bound to 127.0.0.1) and under ours."""
    started: list[Server] = []

    def start(source: str, env: dict[str, str], model_files: dict[str, Path] | None = None
              ) -> tuple[Server, Server]:
        script = tmp_path / "score.py"
        script.write_text(source)
        model_dir = tmp_path / "model"
        model_dir.mkdir(exist_ok=True)
        for name, path in (model_files or {}).items():
            shutil.copyfile(path, model_dir / name)
        # What the azmlinfsrv CLI sets before starting gunicorn; its CLI binds 0.0.0.0, so we start
        # its gunicorn ourselves with the same options on 127.0.0.1.
        peer_env = {**env, "AML_APP_ROOT": str(tmp_path), "AZUREML_ENTRY_SCRIPT": str(script),
                    "AZUREML_MODEL_DIR": str(model_dir), "WORKER_COUNT": "1",
                    "HTTP_X_MS_SERVER_VERSION": "azmlinfsrv/1.5.1"}
        peer = Server(tmp_path, script, env=peer_env, command=[
            str(peer_python), "-m", "gunicorn", "-b", "127.0.0.1:{port}", "-w", "1", "--timeout", "300",
            "--access-logfile", "-", "--no-control-socket", "azureml_inference_server_http.server.entry:app"])
        ours = Server(tmp_path, script, model_dir, env=env)
        started.extend([peer, ours])
        return peer.wait_ready(), ours.wait_ready()
    yield start
    for server in started:
        server.stop()


def _compare(pair: Callable, source: str, env: dict[str, str], exchanges: list[Exchange]) -> None:
    peer, ours = pair(source, env)
    for exchange in exchanges:
        expected = _normalise(_send(peer.url, exchange), ours=False)
        actual = _normalise(_send(ours.url, exchange), ours=True)
        assert actual == expected, f"{exchange.method} {exchange.path} {exchange.body[:60]!r}"


@pytest.mark.parametrize("case", list(CASES))
def test_same_answers_as_azmlinfsrv(pair: Callable, case: str) -> None:
    _compare(pair, *CASES[case])


SWAGGER_SCRIPTS = {"decorated": scripts.DECORATED, "undecorated": scripts.UNDECORATED, "rawhttp": scripts.RAW}


@pytest.mark.parametrize("script", list(SWAGGER_SCRIPTS))
def test_swagger_documents_match_azmlinfsrv(pair: Callable, script: str) -> None:
    """The whole document, for every version, except ErrorResponse's request_id (README)."""
    peer, ours = pair(SWAGGER_SCRIPTS[script], {})
    for version in ("2", "2.0", "3", "3.0", "3.1"):
        their_response = requests.get(f"{peer.url}/swagger.json?version={version}", timeout=10)
        my_response = requests.get(f"{ours.url}/swagger.json?version={version}", timeout=10)
        assert my_response.status_code == their_response.status_code == 200
        for name in ("Content-Type", "x-ms-run-function-failed"):
            assert my_response.headers[name] == their_response.headers[name]
        theirs, mine = their_response.json(), my_response.json()
        errors = mine["definitions"] if version.startswith("2") else mine["components"]["schemas"]
        assert errors["ErrorResponse"]["properties"].pop("request_id") == {"type": "string"}
        assert mine == theirs, version
    default = requests.get(f"{ours.url}/swagger.json", timeout=10).json()
    assert default["swagger"] == "2.0"


def test_batched_answers_match_azmlinfsrv(pair: Callable) -> None:
    """The decorated script opted in to micro-batching, its requests sent 8 at a time to ours:
    the same answers azmlinfsrv gives one by one (it ignores the marker)."""
    from concurrent.futures import ThreadPoolExecutor
    peer, ours = pair(scripts.DECORATED + '\nAMLOCAL_BATCH_INPUT = "data"\n', {})
    bodies = [json.dumps({"data": [[i, 0.5, 2, 3]] * (i % 5 + 1), "scale": i % 2 + 1}).encode()
              for i in range(24)] + [b'{"scale": 2}', b"[1, 2]", b'{"data": [[1, 2, 3, 4]], "extra": 1}']
    exchanges = [Exchange("POST", "/score", body, {**JSON, "x-request-id": f"b{i}"})
                 for i, body in enumerate(bodies)]
    expected = [_normalise(_send(peer.url, exchange), ours=False) for exchange in exchanges]
    with ThreadPoolExecutor(8) as pool:
        actual = list(pool.map(lambda exchange: _normalise(_send(ours.url, exchange), ours=True), exchanges))
    assert actual == expected
    assert "Batching on" in ours.log


# Requests where we deliberately answer differently (README): (request, azmlinfsrv status, our status).
DIFFERENT = [
    (Exchange("POST", "/score", b'{"data": [[1, 2, 3]]}', JSON), 500, 400),
    (Exchange("POST", "/score", b'{"data": [["a", "b", "c", "d"]]}', JSON), 500, 400),
    (Exchange("POST", "/score", b'{"data": 5}', JSON), 500, 400),
    (Exchange("POST", "/score", b'{"data": [[1, 2, 3, 4]], "scale": "x"}', JSON), 500, 400),
]


def test_documented_differences_are_real(pair: Callable) -> None:
    peer, ours = pair(scripts.DECORATED, {})
    for exchange, their_status, our_status in DIFFERENT:
        assert _send(peer.url, exchange).status_code == their_status
        mine = _send(ours.url, exchange)
        assert mine.status_code == our_status and "parameter" in mine.json()["message"]


def test_undecorated_run_gets_a_form_encoded_body(pair: Callable) -> None:
    """azmlinfsrv hands run() an empty string when the body is form-encoded (curl -d); we hand the body."""
    peer, ours = pair(scripts.UNDECORATED, {})
    body = json.dumps({"form": "encoded"}).encode()
    exchange = Exchange("POST", "/score", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert _send(peer.url, exchange).json() == {"echo": None, "type": "str"}
    assert _send(ours.url, exchange).json() == {"echo": {"form": "encoded"}, "type": "str"}


# -- @rawhttp (AMLRequest / AMLResponse) -----------------------------------------------------------

def _multipart(fields: dict[str, Any] | list[tuple[str, Any]]) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body as `curl -F` sends it (fixed boundary: the same bytes to both)."""
    from urllib3 import encode_multipart_formdata
    body, content_type = encode_multipart_formdata(fields, boundary="amlocal-differential-boundary")
    return body, {"Content-Type": content_type}


IMAGE = (SAMPLES / "binary-payloads" / "input.jpg").read_bytes()
FORM = _multipart({"note": "hello", "upload": ("notes.txt", b"line 1\nline 2\n", "text/plain")})
RAW_EXCHANGES = [
    Exchange("GET", "/score?a=1&a=2&b=x"),
    Exchange("OPTIONS", "/score"),
    Exchange("PUT", "/score", b"{}", JSON),
    Exchange("POST", "/score?kind=echo", b"\x00\xffbinary\x01", {"Content-Type": "application/octet-stream"}),
    Exchange("POST", "/score?kind=echo", b"no content type"),
    Exchange("POST", "/score?kind=json", b'{"a": 1}', {**JSON, "x-request-id": "raw-1"}),
    Exchange("POST", "/score?kind=none", b""),
    Exchange("POST", "/score?kind=headers", b"", {"x-ms-client-request-id": "client-raw"}),
    Exchange("POST", "/score?kind=teapot", b""),
    Exchange("POST", "/score?kind=unavailable", b""),
    Exchange("POST", "/score?kind=flagged", b""),
    Exchange("POST", "/score?kind=form", b"x=1&y=two", {"Content-Type": "application/x-www-form-urlencoded"}),
    Exchange("POST", "/score?kind=form", FORM[0], FORM[1]),
    Exchange("POST", "/score?kind=flask", b""),
    Exchange("POST", "/score?kind=str", b""),
    Exchange("POST", "/score?kind=raise", b"", {"x-request-id": "raw-boom"}),
    Exchange("POST", "/score?kind=echo", b"x", {"x-request-id": "r" * 101}),
]
RAW_CASES: dict[str, tuple[str, dict[str, str], list[Exchange]]] = {}
RAW_CASES["rawhttp"] = (scripts.RAW, {}, RAW_EXCHANGES)
RAW_CASES["rawhttp-headers"] = (scripts.RAW_HEADERS, {}, [
    Exchange("POST", "/score", b"", {"X-Custom": "abc"}), Exchange("GET", "/score", b"", {"X-Custom": "q"})])
# Azure's binary-payloads sample (azureml-examples), with the requests its script sends (curl -F).
SINGLE_FILE = (SAMPLES / "binary-payloads" / "code" / "single-file-to-file-score.py").read_text()
MULTI_FILE = (SAMPLES / "binary-payloads" / "code" / "multi-file-to-json-score.py").read_text()
ONE_IMAGE = _multipart({"file": ("input.jpg", IMAGE, "image/jpeg")})
TWO_IMAGES = _multipart([("file[]", ("input.jpg", IMAGE, "image/jpeg")),
                         ("file[]", ("copy.jpg", IMAGE, "image/jpeg"))])
RAW_CASES["azure-single-file-to-file"] = (SINGLE_FILE, {}, [
    Exchange("POST", "/score", ONE_IMAGE[0], ONE_IMAGE[1]),
    Exchange("POST", "/score", FORM[0], FORM[1]),  # no "file" field: the script's 422
    Exchange("GET", "/score"),
])
RAW_CASES["azure-multi-file-to-json"] = (MULTI_FILE, {}, [Exchange("POST", "/score", ONE_IMAGE[0], ONE_IMAGE[1])])


@pytest.mark.parametrize("case", list(RAW_CASES))
def test_rawhttp_answers_like_azmlinfsrv(pair: Callable, case: str) -> None:
    _compare(pair, *RAW_CASES[case])


def test_azure_multi_file_sample_answers_like_azmlinfsrv(pair: Callable) -> None:
    peer, ours = pair(MULTI_FILE, {})
    exchange = Exchange("POST", "/score", TWO_IMAGES[0], TWO_IMAGES[1])
    expected = _normalise(_send(peer.url, exchange), ours=False)
    assert expected["body"] == {"response": [{"filename": "input.jpg", "size": [512, 340]},
                                             {"filename": "copy.jpg", "size": [512, 340]}]}
    assert _normalise(_send(ours.url, exchange), ours=True) == expected


def test_azure_single_file_sample_returns_the_resized_jpeg(pair: Callable) -> None:
    peer, ours = pair(SINGLE_FILE, {})
    for server in (peer, ours):
        answer = _send(server.url, Exchange("POST", "/score", ONE_IMAGE[0], ONE_IMAGE[1]))
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/jpg"
        assert Image.open(io.BytesIO(answer.content)).size == (128, 128)


def test_rawhttp_with_input_schema_stops_both_servers(tmp_path: Path, peer_python: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text(scripts.RAW_AND_SCHEMA)
    peer = Server(tmp_path, script, env={"AML_APP_ROOT": str(tmp_path), "AZUREML_ENTRY_SCRIPT": str(script)},
                  command=[str(peer_python), "-m", "gunicorn", "-b", "127.0.0.1:{port}", "-w", "1",
                           "--no-control-socket", "azureml_inference_server_http.server.entry:app"])
    ours = Server(tmp_path, script)
    try:
        assert peer.wait_exit() != 0 and ours.wait_exit() == 3
        message = "run() cannot be decorated with both @rawhttp and @input_schema"
        assert message in peer.log and message in ours.log
    finally:
        peer.stop()
        ours.stop()


# -- Azure's deploy-to-cloud notebook: its dill-pickled Ridge model and its custom score.py ----------

@pytest.fixture(scope="module")
def dill_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the notebook's "Create trained model" cell unchanged: Ridge on diabetes, dill.dump."""
    folder = tmp_path_factory.mktemp("notebook")
    cell = notebook_cell(SAMPLES / "deploy-to-cloud" / "model-register-and-deploy.ipynb", "dill.dump(")
    subprocess.run([sys.executable, "-c", cell], cwd=folder, check=True, timeout=120)
    return folder / "sklearn_regression_model.pkl"


def test_azure_custom_score_py_serves_the_dill_model_like_azmlinfsrv(pair: Callable, dill_model: Path) -> None:
    from sklearn.datasets import load_diabetes
    dataset_x, _ = load_diabetes(return_X_y=True)
    peer, ours = pair((SAMPLES / "deploy-to-cloud" / "score.py").read_text(), {},
                      {"sklearn_regression_model.pkl": dill_model})
    body = json.dumps({"data": dataset_x[0:2].tolist()}).encode()  # the notebook's request
    exchanges = [Exchange("POST", "/score", body, JSON), Exchange("GET", "/"),
                 Exchange("POST", "/score", b'{"data": [[1, 2, 3]]}', JSON)]
    answers = []
    for exchange in exchanges[:2]:
        expected = _normalise(_send(peer.url, exchange), ours=False)
        assert _normalise(_send(ours.url, exchange), ours=True) == expected
        answers.append(expected)
    assert len(answers[0]["body"]) == 2 and answers[0]["status"] == 200
    # a 3-column row: azmlinfsrv 500, ours 400 naming the parameter (README)
    assert _send(peer.url, exchanges[2]).status_code == 500
    assert _send(ours.url, exchanges[2]).status_code == 400
