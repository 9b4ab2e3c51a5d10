"""Run-scoped tokens in verbs: issue one when a run starts, resolve one per request, revoke.

A token is `amlrun_` + 43 random URL-safe characters; the store keeps only its sha256. It is valid
while it is unexpired and unrevoked and its run is active (Preparing, Running, Finalizing).
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from .base import StoreBase, iso
from .runs import ACTIVE, Run, _run_from_row

RUN_TOKEN_PREFIX = "amlrun_"


def token_digest(token: str) -> str:
    """The sha256 the store keeps in place of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class RunTokenStore(StoreBase):
    """Verbs on run-scoped tokens."""

    def issue_run_token(self, run_id: str, ttl_s: float) -> tuple[str, datetime]:
        """A new token for `run_id`, valid for `ttl_s` seconds at most; returns (token, expiry)."""
        token = RUN_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + timedelta(seconds=ttl_s)
        with self.transaction() as conn:
            self._state_row(conn, run_id)  # NotFound for an unknown run
            conn.execute("INSERT INTO run_tokens (token_sha256, run_id, created_time, "
                         "expires_time) VALUES (?, ?, ?, ?)",
                         (token_digest(token), run_id, iso(now), iso(expires)))
        return token, expires

    def run_for_token(self, token: str) -> Run | None:
        """The active run a valid token belongs to, else None (unknown, expired, revoked, or
        its run has ended)."""
        if not token.startswith(RUN_TOKEN_PREFIX):
            return None
        marks = ",".join("?" * len(ACTIVE))
        row = self.conn.execute(
            "SELECT r.* FROM run_tokens t JOIN runs r ON r.id = t.run_id WHERE t.token_sha256 = ? "
            f"AND t.revoked_time IS NULL AND t.expires_time > ? AND r.status IN ({marks})",
            (token_digest(token), self.now(), *ACTIVE)).fetchone()
        return None if row is None else _run_from_row(row)

    def revoke_run_tokens(self, run_id: str) -> None:
        """End every token of a run (finish_run does it in its own transaction too)."""
        with self.transaction() as conn:
            conn.execute("UPDATE run_tokens SET revoked_time = ? WHERE run_id = ? AND "
                         "revoked_time IS NULL", (self.now(), run_id))
