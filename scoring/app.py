"""The scoring WSGI app: a lean path for /score in front of a Flask app for everything else."""
from __future__ import annotations

import hmac
import io
import time
import uuid
from http import HTTPStatus
from typing import Any, Callable, Iterable

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from . import __version__
from .batching import Batcher
from .entry import EntryScript
from .errors import (InternalError, PayloadTooLarge, RunFailed, RunTimeout, ScoringError, Unauthorized)
from .handling import Reply, ScoreRequest, error_reply, handle_score, request_ids
from .logs import logger
from .metrics import Metrics, render
from .settings import Settings
from .swagger import Swagger

SCORE_METHODS = ("GET", "OPTIONS", "POST")
_STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}


class MethodNotAllowed(ScoringError):
    """A method other than GET, POST, OPTIONS on /score."""

    status = 405


def _environ_headers(environ: dict[str, Any]) -> dict[str, str]:
    """Request headers named as werkzeug names them (what Azure hands to run(request_headers))."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            headers[key[5:].replace("_", "-").title()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[key.replace("_", "-").title()] = value
    return headers


class ScoringApp:
    """WSGI callable: POST/GET/OPTIONS /score served directly (no per-request framework work), the rest by Flask."""

    def __init__(self, settings: Settings, script: EntryScript) -> None:
        self.settings = settings
        self.script = script
        self.metrics = Metrics()
        self.keys = tuple(key.encode() for key in settings.scoring_keys)
        # Gathers a pass's concurrent requests (the keepalive worker calls it); None: never batched.
        self.batcher = Batcher.for_script(script, settings, self.metrics.observe_batch, self.admits)
        self._batched = self.batcher.take if self.batcher is not None else None
        self.base_headers = [("x-ms-server-version", settings.server_version or f"amlocal-scoring/{__version__}")]
        self.flask = create_flask_app(self, Swagger(script.run_function, settings.app_root or "."))

    def admits(self, authorization: str | None) -> bool:
        """Whether keys are off or the Authorization header is `Bearer <primary|secondary>`."""
        if not self.keys:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        presented = token.strip().encode()
        # compare_digest against every key: the time taken does not tell which prefix matched.
        matches = [hmac.compare_digest(presented, key) for key in self.keys]
        return scheme.lower() == "bearer" and any(matches)

    def authorize(self, authorization: str | None) -> None:
        """Raise Unauthorized unless `admits` the header."""
        if not self.admits(authorization):
            raise Unauthorized("Missing or invalid key: send 'Authorization: Bearer <key>' with the "
                               "deployment's primary or secondary key.")

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        limit = self.settings.max_request_bytes
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        if length:
            if int(length) > limit:  # refuse before reading a byte of it
                raise PayloadTooLarge(f"Request body of {length} bytes is over the limit of {limit} bytes "
                                      "(MAX_REQUEST_BYTES).")
            return stream.read(int(length))
        body = stream.read(limit + 1)  # chunked: read at most one byte past the cap
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body is over the limit of {limit} bytes (MAX_REQUEST_BYTES).")
        return body

    def _score(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        method = environ["REQUEST_METHOD"]
        request_id, echo = "", []
        try:
            request_id, echo = request_ids(lambda name: environ.get("HTTP_" + name.upper().replace("-", "_")))
            if method not in SCORE_METHODS:
                raise MethodNotAllowed("The method is not allowed for the requested URL.")
            if method != "OPTIONS" or self.script.raw:  # a @rawhttp run() answers OPTIONS itself
                self.authorize(environ.get("HTTP_AUTHORIZATION"))
            if self.script.raw:
                reply, run_ms = self._score_raw(environ)
            else:
                body = self._read_body(environ) if method == "POST" else b""
                score_request = ScoreRequest(method, body, environ.get("CONTENT_TYPE", ""),
                                             environ.get("QUERY_STRING", ""), lambda: _environ_headers(environ),
                                             environ=environ)
                reply, run_ms = handle_score(score_request, self.script, self.settings.scoring_timeout_ms,
                                             self._batched)
            if method != "OPTIONS" or self.script.raw:
                self.metrics.observe_run(run_ms)
        except ScoringError as err:
            request_id = request_id or str(uuid.uuid4())
            reply = self._error(err, request_id)
        except Exception:  # a server defect: log it, never show it
            request_id = request_id or str(uuid.uuid4())
            logger.exception("request %s: unexpected server error", request_id)
            reply = self._error(InternalError(), request_id)
        if reply.status == 405:
            reply.headers.append(("Allow", ", ".join(SCORE_METHODS)))
        # Azure answers routing errors (405) outside its blueprint: no request-id headers there.
        headers = reply.headers + (echo if reply.status != 405 else []) + self.base_headers
        headers.append(("Content-Length", str(len(reply.body))))
        if reply.status == 413:  # the unread body must not be parsed as the next request
            headers.append(("Connection", "close"))
        start_response(_STATUS_LINES.get(reply.status, f"{reply.status} UNKNOWN"), headers)
        self.metrics.count("/score", method if method in SCORE_METHODS else "other", reply.status)
        logger.info("%s /score %d %.3fms %d %s", method, reply.status, (time.perf_counter() - started) * 1000,
                    len(reply.body), request_id)
        return [reply.body]

    def _score_raw(self, environ: dict[str, Any]) -> tuple[Reply, float]:
        """A @rawhttp run(): it gets a Flask request (with an app and request context, as in
        azmlinfsrv) whose body was read here first, under MAX_REQUEST_BYTES."""
        body = self._read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        with self.flask.request_context(environ):
            score_request = ScoreRequest(environ["REQUEST_METHOD"], body, environ.get("CONTENT_TYPE", ""),
                                         environ.get("QUERY_STRING", ""), lambda: _environ_headers(environ),
                                         raw=lambda: request._get_current_object(), environ=environ)
            return handle_score(score_request, self.script, self.settings.scoring_timeout_ms)

    @staticmethod
    def _error(err: ScoringError, request_id: str) -> Reply:
        if isinstance(err, (RunFailed, RunTimeout, InternalError)):
            logger.error("request %s: %s", request_id, err.message, exc_info=err.__cause__ or err)
        return error_reply(err, request_id)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/score":
            return self._score(environ, start_response)
        return self.flask(environ, start_response)


def create_flask_app(scoring: ScoringApp, swagger: Swagger) -> Flask:
    """GET /, /swagger.json, /metrics and the JSON 404/405 answers, with Azure's request-id headers."""
    app = Flask("scoring")

    @app.before_request
    def _ids() -> None:
        g.request_id, g.echo = "", []
        g.request_id, g.echo = request_ids(request.headers.get)
        if request.path == "/swagger.json":
            scoring.authorize(request.headers.get("Authorization"))

    @app.after_request
    def _headers(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule else "other"
        # Azure answers routing errors (404, 405) outside its blueprint: no request-id headers there.
        for name, value in (g.get("echo", []) if request.url_rule else []) + scoring.base_headers:
            response.headers[name] = value
        scoring.metrics.count(rule, request.method, response.status_code)
        return response

    @app.errorhandler(ScoringError)
    def _scoring_error(err: ScoringError) -> tuple[bytes, int, list]:
        reply = error_reply(err, g.get("request_id") or str(uuid.uuid4()))
        return reply.body, reply.status, reply.headers

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> tuple[bytes, int, list]:
        reply = error_reply(ScoringError(err.description or err.name), g.get("request_id") or str(uuid.uuid4()))
        extra = [(k, v) for k, v in err.get_headers() if k.lower() != "content-type"]  # e.g. Allow on 405
        return reply.body, err.code or 500, reply.headers + extra

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> tuple[bytes, int, list]:
        request_id = g.get("request_id") or str(uuid.uuid4())
        logger.error("request %s: unexpected server error", request_id, exc_info=err)
        reply = error_reply(InternalError(), request_id)
        return reply.body, reply.status, reply.headers

    @app.get("/")
    def health() -> str:
        return "Healthy"

    @app.get("/swagger.json")
    def swagger_json() -> Response:
        return Response(swagger.get(request.args.get("version", "2")), mimetype="application/json",
                        headers={"x-ms-run-function-failed": "False"})

    @app.get("/metrics")
    def metrics() -> Response:
        body, content_type = render()
        return Response(body, content_type=content_type)

    return app
