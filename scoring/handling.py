"""One scoring request as a plain function: handle_score(request, script, timeout) → (Reply, run() ms)."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl

from .entry import EntryScript
from .errors import BadInput, HeaderTooLong, InternalError, ScoringError, UnsupportedInput

try:  # orjson parses 5-10x faster and rejects NaN/Infinity, which are not JSON
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson is a declared dependency
    def _reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    def _loads(body: bytes) -> Any:
        return json.loads(body, parse_constant=_reject_constant)

HEADER_LIMIT = 100
JSON_TYPE = "application/json"


@dataclass(slots=True)
class ScoreRequest:
    """What handle_score needs of an HTTP request."""

    method: str
    body: bytes = b""
    content_type: str = ""
    query_string: str = ""
    headers: Callable[[], Mapping[str, str]] = dict
    # For a @rawhttp run(): the request object it receives (a Flask request), built only then.
    raw: Callable[[], Any] | None = None
    # The WSGI environ, for a Response that run() returns (werkzeug reads the method from it).
    environ: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Reply:
    """An HTTP answer: status, body bytes and headers."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def error_reply(err: ScoringError, request_id: str) -> Reply:
    """The one place an error becomes a body: {"message": ..., "request_id": ...}."""
    body = json.dumps({"message": err.message, "request_id": request_id}).encode()
    return Reply(err.status, body, [("Content-Type", JSON_TYPE),
                                    ("x-ms-run-function-failed", str(err.run_function_failed))])


def request_ids(header: Callable[[str], str | None]) -> tuple[str, list[tuple[str, str]]]:
    """Azure's request-id echo rules: (request id, response headers); HeaderTooLong over 100 chars."""
    request_id = header("x-request-id") or str(uuid.uuid4())
    if len(request_id) > HEADER_LIMIT:
        raise HeaderTooLong(f"x-request-id must not exceed {HEADER_LIMIT} characters")
    legacy = header("x-ms-request-id") or ""
    client = header("x-ms-client-request-id") or ""
    if legacy:
        client = client or legacy
    else:
        legacy = client or request_id
    if len(legacy) > HEADER_LIMIT or len(client) > HEADER_LIMIT:
        raise HeaderTooLong(f"x-ms-request-id and x-ms-client-request-id must not exceed {HEADER_LIMIT} "
                            "characters")
    echo = [("x-request-id", request_id), ("x-ms-request-id", legacy)]
    if client:
        echo.append(("x-ms-client-request-id", client))
    trace = header("traceid")
    if trace is not None:
        echo.append(("TraceId", trace))
    return request_id, echo


def is_json(content_type: str) -> bool:
    """Whether a Content-Type names JSON (application/json or application/*+json)."""
    mimetype = content_type.split(";", 1)[0].strip().lower()
    return mimetype == JSON_TYPE or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _query_arguments(query_string: str) -> dict[str, Any]:
    """Query arguments parsed as JSON where possible; a repeated key becomes a list (as Azure)."""
    grouped: dict[str, list[Any]] = {}
    for key, raw in parse_qsl(query_string, keep_blank_values=True):
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        grouped.setdefault(key, []).append(value)
    return {key: values[0] if len(values) == 1 else values for key, values in grouped.items()}


def decorated_arguments(script: EntryScript, request: ScoreRequest) -> dict[str, Any]:
    """run()'s arguments from the body (POST) or the query (GET), converted; BadInput if they can't be."""
    if request.method == "GET":
        source = _query_arguments(request.query_string)
    else:
        if not is_json(request.content_type):
            raise UnsupportedInput("Expects Content-Type to be application/json")
        if not request.body:
            raise BadInput("POST body is empty. Expecting a JSON dictionary.")
        try:
            source = _loads(request.body)
        except ValueError as err:  # orjson.JSONDecodeError is a ValueError
            raise BadInput(f"POST body could not be decoded as JSON: {err}") from err
        if not isinstance(source, dict):
            raise BadInput("POST body should be a JSON dictionary.")
    arguments = {}
    for parameter in script.parameters:
        value = source.get(parameter.name, parameter.default)
        if value is parameter.empty:
            raise BadInput(f"A value is not provided for the {parameter.name!r} parameter.")
        arguments[parameter.name] = value
    return script.convert(arguments)


def _plain_arguments(script: EntryScript, request: ScoreRequest) -> dict[str, Any]:
    if request.method == "GET":
        data = json.dumps(_query_arguments(request.query_string))
    else:
        try:
            data = request.body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise BadInput(f"Input cannot be decoded as UTF-8: {err}") from err
    return {script.parameters[0].name: data}


def _response_reply(response: Any, environ: Mapping[str, Any], timing: tuple[str, str]) -> Reply:
    """A Response that run() returned, sent as werkzeug would send it, with Azure's headers."""
    if response.status_code >= 500:  # azmlinfsrv marks a script's own 5xx as a failed run()
        response.headers["x-ms-run-function-failed"] = "True"
    app_iter, status, headers = response.get_wsgi_response(environ or {"REQUEST_METHOD": "POST"})
    try:
        body = b"".join(app_iter)
    finally:
        if hasattr(app_iter, "close"):
            app_iter.close()
    # The body is sent whole, so the server states its length (a streamed response included).
    kept = [(name, value) for name, value in headers if name.lower() != "content-length"]
    return Reply(int(str(status).split(" ", 1)[0]), body, kept + [timing])


def _encode(result: Any, elapsed_ms: float, environ: Mapping[str, Any]) -> Reply:
    timing = ("x-ms-run-fn-exec-ms", f"{elapsed_ms:.3f}")
    if hasattr(result, "get_wsgi_response") and hasattr(result, "status_code"):  # AMLResponse, flask.Response
        return _response_reply(result, environ, timing)
    try:
        # json.dumps, not orjson: byte-identical bodies to azmlinfsrv (", " separators, NaN as NaN).
        body = json.dumps(result).encode()
    except (TypeError, ValueError) as err:
        raise InternalError() from err
    return Reply(200, body, [("Content-Type", JSON_TYPE), ("x-ms-run-function-failed", "False"), timing])


def handle_score(request: ScoreRequest, script: EntryScript, timeout_ms: int,
                 batched: Callable[[ScoreRequest], tuple[Any, float] | None] | None = None
                 ) -> tuple[Reply, float]:
    """Answer one /score request: parse, convert, run(), encode. Returns (reply, run() ms).

    `batched` gives the answer already computed for this request in a batch (scoring/batching.py).
    Raises ScoringError subclasses for every failure; the caller turns them into error replies.
    """
    if script.raw:  # @rawhttp: run() gets the request for every method routed here, OPTIONS too
        if request.raw is None:
            raise InternalError()
        arguments = {script.parameters[0].name: request.raw()}
    elif request.method == "OPTIONS":
        return Reply(200, b"", [("Content-Type", "text/html; charset=utf-8"),
                                ("x-ms-run-function-failed", "False")]), 0.0
    elif script.decorated:
        done = batched(request) if batched is not None else None
        if done is not None:
            return _encode(done[0], done[1], request.environ), done[1]
        arguments = decorated_arguments(script, request)
    else:
        arguments = _plain_arguments(script, request)
    result, elapsed_ms = script.invoke_run(arguments, request.headers, timeout_ms)
    return _encode(result, elapsed_ms, request.environ), elapsed_ms
