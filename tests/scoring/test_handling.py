"""handle_score, request_ids and settings as plain functions: no Flask, no server."""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Callable

import pytest

from scoring.entry import EntryScript
from scoring.errors import BadInput, HeaderTooLong, RunFailed, StartupError, UnsupportedInput
from scoring.handling import ScoreRequest, error_reply, handle_score, request_ids
from scoring.settings import SettingsError, load_settings
from tests.scoring import scripts


_names = itertools.count()
# run()'s deadline in these tests: far off, as none of them is about it (a loaded machine may be slow).
TIMEOUT_MS = 60_000


@pytest.fixture
def load(write_script: Callable[[str, str], Path]) -> Callable[[str], EntryScript]:
    """Load and init a script from its source, in this process."""
    def loaded(source: str) -> EntryScript:
        # A module name per script: inference-schema's registry is keyed by module and function.
        script = EntryScript(str(write_script("score.py", source)), f"entry_{next(_names)}")
        script.load()
        script.invoke_init()
        return script
    return loaded


def test_undecorated_run_gets_the_body_as_a_string(load: Callable[[str], EntryScript]) -> None:
    script = load(scripts.UNDECORATED)
    reply, run_ms = handle_score(ScoreRequest("POST", b'{"x": 1}', "text/plain"), script, TIMEOUT_MS)
    assert reply.status == 200 and json.loads(reply.body) == {"echo": {"x": 1}, "type": "str"}
    assert dict(reply.headers)["x-ms-run-function-failed"] == "False" and run_ms >= 0


def test_undecorated_get_gets_the_query_as_a_json_string(load: Callable[[str], EntryScript]) -> None:
    reply, _ = handle_score(ScoreRequest("GET", query_string="a=1&b=[1,2]&c=x&c=y"),
                            load(scripts.UNDECORATED), TIMEOUT_MS)
    assert json.loads(reply.body)["echo"] == {"a": 1, "b": [1, 2], "c": ["x", "y"]}


def test_decorated_run_gets_converted_parameters(load: Callable[[str], EntryScript]) -> None:
    script = load(scripts.DECORATED)
    assert script.decorated and [p.name for p in script.parameters] == ["data", "scale"]
    reply, _ = handle_score(ScoreRequest("POST", b'{"data": [[1, 2, 3, 4]], "scale": 2}', "application/json"),
                            script, TIMEOUT_MS)
    assert json.loads(reply.body) == [20.0]


@pytest.mark.parametrize("body, content_type, error, text", [
    pytest.param(b'{"data": [[1, 2]]}', "application/json", BadInput, "parameter 'data'", id="columns"),
    pytest.param(b'{"data": [[1, 2, 3, 4]], "scale": "big"}', "application/json", BadInput,
                 "parameter 'scale'", id="scalar-type"),
    pytest.param(b'{"data": [[1, 2, 3, 4]]}', "text/csv", UnsupportedInput, "application/json", id="csv"),
    pytest.param(b'{"data": [[1, 2, 3, 4]]}', "application/problem+json", None, "", id="json-suffix-ok"),
])
def test_decorated_bad_input_raises_typed_errors(load: Callable[[str], EntryScript], body: bytes,
                                                 content_type: str, error: type | None, text: str) -> None:
    script = load(scripts.DECORATED)
    request = ScoreRequest("POST", body, content_type)
    if error is None:
        assert handle_score(request, script, TIMEOUT_MS)[0].status == 200
        return
    with pytest.raises(error, match=text.replace("(", r"\(")):
        handle_score(request, script, TIMEOUT_MS)


def test_run_exception_is_run_failed_chained_to_the_cause(load: Callable[[str], EntryScript]) -> None:
    with pytest.raises(RunFailed) as caught:
        handle_score(ScoreRequest("POST", b"{}"), load(scripts.RAISING), TIMEOUT_MS)
    assert isinstance(caught.value.__cause__, RuntimeError)
    body = json.loads(error_reply(caught.value, "rid").body)
    assert body == {"message": caught.value.message, "request_id": "rid"} and "secret" not in body["message"]


def test_options_does_not_call_run(load: Callable[[str], EntryScript]) -> None:
    reply, _ = handle_score(ScoreRequest("OPTIONS"), load(scripts.RAISING), TIMEOUT_MS)
    assert reply.status == 200 and reply.body == b""


@pytest.mark.parametrize("source, message", [
    (scripts.NO_RUN, "does not have a run() function"),
    (scripts.BAD_SIGNATURE, "cannot accept positional-only"),
    ("def init():\n    pass\ndef run(request_headers):\n    pass\n", 'other than "request_headers"'),
    (scripts.SYNTAX_ERROR, "Failed to import"),
])
def test_unusable_scripts_are_startup_errors(write_script: Callable[[str, str], Path], source: str,
                                             message: str) -> None:
    with pytest.raises(StartupError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EntryScript(str(write_script("score.py", source))).load()


def test_request_id_rules() -> None:
    headers = {"x-request-id": "r1"}
    assert request_ids(headers.get) == ("r1", [("x-request-id", "r1"), ("x-ms-request-id", "r1")])
    legacy = {"x-ms-request-id": "old"}
    _, echo = request_ids(legacy.get)
    assert ("x-ms-request-id", "old") in echo and ("x-ms-client-request-id", "old") in echo
    with pytest.raises(HeaderTooLong):
        request_ids({"x-ms-client-request-id": "c" * 101}.get)


def test_settings_from_a_mapping() -> None:
    settings = load_settings({"WORKER_COUNT": "2", "AMLOCAL_SCORING_KEYS": "a, b", "SCORING_TIMEOUT_MS": "50"})
    assert (settings.worker_count, settings.scoring_keys, settings.scoring_timeout_ms) == (2, ("a", "b"), 50)
    assert settings.port == 5001 and settings.host == "127.0.0.1"
    assert settings.max_request_bytes == 100 * 1024 * 1024
    with pytest.raises(SettingsError, match="WORKER_COUNT must be greater than 0"):
        load_settings({"WORKER_COUNT": "0"})
    with pytest.raises(SettingsError, match="MAX_REQUEST_BYTES must be an integer"):
        load_settings({"MAX_REQUEST_BYTES": "lots"})
