"""@rawhttp, AMLRequest and AMLResponse: the stand-in modules, the plain request function, and real
servers in an interpreter with azureml-core (this one) and in one without any `azureml` package."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import requests
from werkzeug.test import EnvironBuilder

from scoring.entry import EntryScript
from scoring.errors import StartupError
from scoring.handling import ScoreRequest, handle_score
from tests.scoring import scripts
from tests.scoring.conftest import Server, assert_error

REPO = Path(__file__).resolve().parents[2]


def _load(write_script: Callable, source: str, name: str) -> EntryScript:
    script = EntryScript(str(write_script(f"{name}.py", source)), module_name=f"rawhttp_{name}")
    script.load()
    script.invoke_init()
    return script


def _raw_request(method: str = "POST", path: str = "/score", **kwargs) -> ScoreRequest:
    from flask import Request
    environ = EnvironBuilder(method=method, path=path, **kwargs).get_environ()
    request = Request(environ)
    return ScoreRequest(method, request.get_data(), request.content_type or "", environ["QUERY_STRING"],
                        lambda: dict(request.headers), raw=lambda: request, environ=environ)


def test_the_azureml_contrib_services_imports_give_the_stand_in_response():
    from scoring import contrib_services
    contrib_services.install()
    from azureml.contrib.services.aml_request import AMLRequest, rawhttp  # noqa: F401
    from azureml.contrib.services.aml_response import AMLResponse
    from flask import Request
    assert issubclass(AMLRequest, Request)

    empty = AMLResponse(None, 204)
    assert empty.get_data() == b"{}" and empty.mimetype == "application/json"
    assert empty.headers["x-ms-run-function-failed"] == "False"
    encoded = AMLResponse({"a": [1, 2]}, 201, json_str=True, run_function_failed=True)
    assert encoded.get_data() == b'{"a": [1, 2]}' and encoded.headers["x-ms-run-function-failed"] == "True"
    typed = AMLResponse(b"\xff\xd8", 200, {"Content-Type": "image/jpeg", "X-Multi": "a, b"})
    assert typed.headers.getlist("Content-Type") == ["image/jpeg"]
    assert typed.headers.getlist("X-Multi") == ["a", "b"]
    assert AMLResponse("text", 418).mimetype == "text/html"


def test_rawhttp_marks_the_script_and_the_next_script_starts_unmarked(write_script):
    raw = _load(write_script, scripts.RAW, "raw")
    plain = _load(write_script, scripts.UNDECORATED, "plain")
    assert raw.raw and not raw.decorated and [p.name for p in raw.parameters] == ["request"]
    assert not plain.raw


def test_rawhttp_with_input_schema_is_refused(write_script):
    script = EntryScript(str(write_script("both.py", scripts.RAW_AND_SCHEMA)), module_name="rawhttp_both")
    with pytest.raises(StartupError, match="both @rawhttp and @input_schema"):
        script.load()


@pytest.mark.parametrize("kind, status, body, failed", [
    ("echo", 200, b"\x00\x01bytes", "False"),
    ("json", 201, b'{"length": 7, "type": "application/octet-stream"}', "False"),
    ("none", 202, b"{}", "False"),
    ("teapot", 418, b"short and stout", "False"),
    ("unavailable", 503, b"later", "True"),  # a script's own 5xx counts as a failed run(), as Azure's
    ("flagged", 200, b"flagged", "True"),
    ("str", 200, b'"a string"', "False"),
], ids=lambda value: str(value))
def test_raw_run_gets_the_request_and_its_response_is_sent_as_built(write_script, kind, status, body, failed):
    script = _load(write_script, scripts.RAW, "kinds")
    request = _raw_request(query_string={"kind": kind}, data=b"\x00\x01bytes",
                           content_type="application/octet-stream")
    reply, run_ms = handle_score(request, script, 10_000)
    headers = dict(reply.headers)
    assert (reply.status, reply.body, headers["x-ms-run-function-failed"]) == (status, body, failed)
    assert "Content-Length" not in headers and float(headers["x-ms-run-fn-exec-ms"]) == pytest.approx(run_ms, abs=1)


def test_raw_run_reads_forms_files_and_options(write_script):
    script = _load(write_script, scripts.RAW, "forms")
    form = _raw_request(query_string={"kind": "form"},
                        data={"note": "hi", "upload": (io.BytesIO(b"12345"), "a.txt")})
    reply, _ = handle_score(form, script, 10_000)
    form.raw().close()  # as Flask does when the request context ends: the spooled upload is closed
    assert reply.body == b'{"form": {"note": "hi"}, "files": {"upload": ["a.txt", 5]}}'
    options, _ = handle_score(_raw_request("OPTIONS"), script, 10_000)
    # AMLResponse splits header values on commas, as azmlinfsrv's does
    assert options.status == 204 and [v for k, v in options.headers if k == "Allow"] == ["GET", "POST", "OPTIONS"]


def test_a_raw_server_in_this_python_runs_beside_the_real_sdk(start_server, write_script):
    """azureml-core is installed here: its `azureml` namespace package stays the real one."""
    server = start_server(write_script("sdk.py", scripts.RAW_WITH_SDK)).wait_ready()
    from importlib.metadata import version
    answer = requests.post(server.url + "/score", data=b"x", timeout=10)
    assert answer.status_code == 200 and version("azureml-core").startswith(answer.text)  # 1.61.0 of 1.61.0.post4
    assert answer.headers["Content-Type"] == "text/plain"


def test_raw_bodies_keep_the_size_limit_and_options_needs_the_key(start_server, write_script):
    server = start_server(write_script("raw.py", scripts.RAW),
                          env={"MAX_REQUEST_BYTES": "16", "AMLOCAL_SCORING_KEYS": "k1,k2"}).wait_ready()
    key = {"Authorization": "Bearer k2"}
    big = requests.post(server.url + "/score?kind=echo", data=b"x" * 17, headers=key, timeout=10)
    assert_error(big, 413, "MAX_REQUEST_BYTES")
    small = requests.post(server.url + "/score?kind=echo", data=b"x" * 16, headers=key, timeout=10)
    assert small.status_code == 200 and small.content == b"x" * 16
    # OPTIONS reaches the user's run() here, so it is no longer open as it is for other scripts
    assert_error(requests.options(server.url + "/score", timeout=10), 401, "key")
    assert requests.options(server.url + "/score", headers=key, timeout=10).status_code == 204
    chunked = requests.post(server.url + "/score?kind=json", data=iter([b"abc", b"def"]), headers=key, timeout=10)
    assert chunked.status_code == 201 and chunked.json()["length"] == 6


NO_AZUREML = """
import importlib.util
from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse
def init():
    pass
@rawhttp
def run(request):
    return {"azureml": importlib.util.find_spec("azureml") is not None, "data": request.get_data(as_text=True)}
"""


@pytest.fixture(scope="module")
def scoring_env(tmp_path_factory: pytest.TempPathFactory):
    """An environment with only the scoring server's requirements: no azureml package at all."""
    from environments.build import materialise
    from environments.parsing import parse_pip_requirements
    spec = parse_pip_requirements((REPO / "docker" / "scoring-requirements.txt").read_text())
    return materialise(spec, tmp_path_factory.mktemp("envs"))


def test_a_raw_server_without_any_azureml_package(scoring_env, tmp_path, write_script):
    probe = subprocess.run([str(scoring_env.python), "-c", "import azureml"], capture_output=True, text=True,
                           env=scoring_env.environ(), timeout=60)
    assert "No module named 'azureml'" in probe.stderr
    script = write_script("noazureml.py", NO_AZUREML)
    env = {**scoring_env.environ(), "PYTHONPATH": str(REPO)}
    server = Server(tmp_path, script, env=env, command=[
        str(scoring_env.python), "-m", "scoring", "--entry_script", str(script), "--port", "{port}"])
    try:
        server.wait_ready()
        answer = requests.post(server.url + "/score", data=b"hello", timeout=10)
        # the script's imports worked, and no `azureml` package was made up to serve them
        assert answer.json() == {"azureml": False, "data": "hello"}
    finally:
        server.stop()


def test_the_stand_in_does_not_shadow_an_installed_azureml_namespace():
    code = ("from scoring import contrib_services; contrib_services.install()\n"
            "from azureml.contrib.services.aml_response import AMLResponse\n"
            "import azureml, azureml.core\n"
            "print(azureml.core.__file__.startswith(azureml.__path__[0]), AMLResponse.__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          check=True)
    assert done.stdout.split() == ["True", "scoring.contrib_services.aml_response"]
