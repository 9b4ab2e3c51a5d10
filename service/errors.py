"""Typed errors carrying their HTTP status, and the one function that builds every error body."""
from __future__ import annotations

import logging
import uuid

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("amlocal.api")


class ApiError(Exception):
    """Base of every error a client may see; `status` is its HTTP status."""

    status = 400

    def __init__(self, message: str, field: str | None = None, **details):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    """A valid token asking for what it may not do (a run token outside its own run)."""

    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class InsufficientStorage(ApiError):
    """The workspace's disk has no room for what the request would store (WebDAV's 507)."""

    status = 507


def error_body(message: str, status: int, field: str | None = None, **details) -> dict:
    """The single JSON error shape: {"error": {"status", "message", "field"?, ...}}."""
    body = {"status": status, "message": message}
    if field:
        body["field"] = field
    body.update(details)
    body["request_id"] = getattr(g, "request_id", None)
    return {"error": body}


# werkzeug raises these while reading a request's body (a malformed form, too many bytes).
BODY_ERRORS = {400: "body", 413: "body"}


def register_error_handlers(app: Flask) -> None:
    """Map typed errors, HTTP errors and unknown exceptions to JSON in exactly one place."""

    @app.before_request
    def _request_id():
        g.request_id = request.headers.get("x-request-id", "")[:100] or str(uuid.uuid4())

    @app.after_request
    def _echo_request_id(response):
        response.headers["x-request-id"] = getattr(g, "request_id", "")
        return response

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return jsonify(error_body(err.message, err.status, err.field, **err.details)), err.status

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        # werkzeug's own headers (405's Allow) are kept; its HTML content type is not.
        code = err.code or 500
        headers = [(k, v) for k, v in err.get_headers() if k.lower() != "content-type"]
        body = error_body(err.description or err.name, code, field=BODY_ERRORS.get(code))
        return jsonify(body), code, headers

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error, request_id=%s", getattr(g, "request_id", None))
        return jsonify(error_body("Internal server error; the request id finds the details in the "
                                  "service log.", 500)), 500
