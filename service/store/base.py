"""What every part of the store shares: a connection per thread, transactions, the clock."""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import BadRequest
from . import db


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as Azure ML prints times."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_version(text: str, field: str = "version", what: str = "version") -> int | str:
    """A version as a user writes it: a positive integer or "latest" (else a 400 on `field`)."""
    if text == "latest":
        return text
    if not text.isdigit() or int(text) < 1:
        raise BadRequest(f"Invalid {what} {text!r}: a positive integer or 'latest'.", field=field)
    return int(text)


def dumps(value: Any) -> str:
    """Compact JSON for a column."""
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


def loads(text: str | None, default: Any = None) -> Any:
    """JSON column back to Python (None stays default)."""
    return default if text is None else json.loads(text)


class StoreBase:
    """Owns one SQLite connection per thread; every write is one transaction."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = utc_now):
        self.path = Path(path)
        self.clock = clock
        self._local = threading.local()

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = db.connect(self.path)
        return conn

    def now(self) -> str:
        return iso(self.clock())

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
