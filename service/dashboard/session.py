"""Who may see the dashboard: a signed-in browser session, or the API token as a bearer header.

The session is Flask's signed cookie (HttpOnly, SameSite=Strict: service/dashboard/__init__.py)
holding a fingerprint of the token it was opened with and a CSRF token; every state-changing
form carries that CSRF token (a bearer request needs none: no browser sends it by itself).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, request, session, url_for


def _fingerprint(token: str) -> str:
    return hashlib.sha256(b"amlocal-dashboard:" + token.encode()).hexdigest()[:32]


def _api_token() -> str:
    return current_app.config["API_TOKEN"]


def token_matches(candidate: str) -> bool:
    """Whether `candidate` is the workspace's API token (constant-time)."""
    return hmac.compare_digest(candidate.encode(), _api_token().encode())


def bearer_ok() -> bool:
    """The request carries `Authorization: Bearer <the API token>`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip()) and token_matches(token.strip())


def signed_in() -> bool:
    """The browser's session was opened with the current API token."""
    stored = session.get("auth")
    return isinstance(stored, str) and hmac.compare_digest(stored, _fingerprint(_api_token()))


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    if not isinstance(session.get("csrf"), str):
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    """403 unless the form's csrf_token is this session's."""
    sent, expected = request.form.get("csrf_token", ""), session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(403, "This form has no valid CSRF token: reload the page and send it again.")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only."""
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not target.startswith("/") \
            or target.startswith("//") or "\\" in target:
        return url_for("dashboard.experiments")
    return target


def require_sign_in():
    """The blueprint's gate: bearer or session; a session's POST needs its CSRF token."""
    if bearer_ok():
        return None
    if not signed_in():
        if request.method != "GET":
            abort(403, "Sign in first.")
        return redirect(url_for("dashboard.sign_in", next=request.full_path.rstrip("?")))
    if request.method == "POST":
        check_csrf()
    return None


def open_session() -> None:
    """Sign in: a fresh session (new CSRF token) bound to the token's fingerprint."""
    session.clear()
    session["auth"] = _fingerprint(_api_token())
    session["csrf"] = secrets.token_urlsafe(32)


def close_session() -> None:
    """Sign out."""
    session.clear()
