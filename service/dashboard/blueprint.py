"""The dashboard's blueprint, its access checks, its HTML errors and its security headers."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, render_template, request
from werkzeug.exceptions import HTTPException

from ..errors import ApiError
from . import context, session

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/ui/static")
context.register(bp)
OPEN = {"dashboard.static", "dashboard.sign_in", "dashboard.home"}
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@bp.app_context_processor
def _globals() -> dict:
    return {"csrf_token": session.csrf_token}


@bp.before_request
def _check_access():
    if request.endpoint in OPEN:
        return None
    return session.require_sign_in()


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


log = logging.getLogger("amlocal.dashboard")


@bp.errorhandler(ApiError)
def _error(err: ApiError):
    """A domain error on a page: the API's message, as a page."""
    return render_template("error.html", status=err.status, message=err.message), err.status


@bp.errorhandler(Exception)
def _unexpected(err: Exception):
    """Nothing of a traceback reaches the browser; the log has it."""
    if isinstance(err, HTTPException):
        return render_template("error.html", status=err.code, message=err.description), err.code
    log.exception("dashboard error on %s", request.path)
    return render_template("error.html", status=500, message="Internal error; the service log "
                           "has the details."), 500
