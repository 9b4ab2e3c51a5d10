"""Differential test: the same entry scripts and requests under azmlinfsrv 1.5.1 and under ours.

Status codes, bodies and headers must be identical except for DIFFERENCES below (also in the README).
"""
from __future__ import annotations

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

from tests.scoring import scripts
from tests.scoring.conftest import Server

pytestmark = pytest.mark.peers

PEER_DIR = Path(__file__).resolve().parents[2] / ".peers" / "azmlinfsrv"
PEER_REQUIREMENTS = ["azureml-inference-server-http==1.5.1", "scikit-learn", "joblib", "numpy"]
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
        if not ready.exists():
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

    def start(source: str, env: dict[str, str]) -> tuple[Server, Server]:
        script = tmp_path / "score.py"
        script.write_text(source)
        model_dir = tmp_path / "model"
        model_dir.mkdir(exist_ok=True)
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


@pytest.mark.parametrize("case", list(CASES))
def test_same_answers_as_azmlinfsrv(pair: Callable, case: str) -> None:
    source, env, exchanges = CASES[case]
    peer, ours = pair(source, env)
    for exchange in exchanges:
        expected = _normalise(_send(peer.url, exchange), ours=False)
        actual = _normalise(_send(ours.url, exchange), ours=True)
        assert actual == expected, f"{exchange.method} {exchange.path} {exchange.body[:60]!r}"


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
def test_swagger_schemas_match_azmlinfsrv(pair: Callable, version: str) -> None:
    peer, ours = pair(scripts.DECORATED, {})
    their_response = requests.get(f"{peer.url}/swagger.json?version={version}", timeout=10)
    my_response = requests.get(f"{ours.url}/swagger.json?version={version}", timeout=10)
    for name in ("Content-Type", "x-ms-run-function-failed"):
        assert my_response.headers[name] == their_response.headers[name]
    theirs, mine = their_response.json(), my_response.json()
    section = (lambda doc: doc["definitions"]) if version == "2" else (lambda doc: doc["components"]["schemas"])
    for name in ("ServiceInput", "ServiceOutput"):
        assert section(mine)[name] == section(theirs)[name]
    assert mine.get("swagger") == theirs.get("swagger") and mine.get("openapi") == theirs.get("openapi")
    assert set(mine["paths"]) == set(theirs["paths"])


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
