"""What every part of the store shares: a connection per thread, transactions, the clock."""
from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from ..errors import BadRequest
from . import db, space

MAX_VERSION = 2**63 - 1  # SQLite's largest INTEGER
T = TypeVar("T")


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
    # ASCII digits only ("²".isdigit() is true), and within SQLite's INTEGER
    if not re.fullmatch(r"[0-9]{1,19}", text) or not 1 <= int(text) <= MAX_VERSION:
        raise BadRequest(f"Invalid {what} {text!r}: a positive integer or 'latest'.", field=field)
    return int(text)


def dumps(value: Any) -> str:
    """Compact JSON for a column."""
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


def loads(text: str | None, default: Any = None) -> Any:
    """JSON column back to Python (None stays default)."""
    return default if text is None else json.loads(text)


def even_when_full(verb: Callable[..., T]) -> Callable[..., T]:
    """For a store verb that must succeed on a full disk (a delete, how a run ended): if the
    disk is full, the workspace's space reserve is given up and the verb runs once more
    (service/store/space.py)."""
    @functools.wraps(verb)
    def write(self: "StoreBase", *args: Any, **kwargs: Any) -> T:
        return space.even_when_full(self.path.parent, lambda: verb(self, *args, **kwargs))
    return write


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
            # The first connection after all were closed makes amlocal.db-shm: on a full disk
            # the workspace's space reserve pays for it, so the workspace can still be read.
            conn = self._local.conn = space.even_when_full(self.path.parent, self._connect)
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            return db.connect(self.path)
        except sqlite3.Error as err:
            if space.is_full(err):
                raise space.full_error("the workspace database") from err
            raise

    def now(self) -> str:
        return iso(self.clock())

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception (a failed COMMIT too: the
        connection must not stay inside it). A full disk is InsufficientStorage (507)."""
        try:
            conn = self.conn  # (opening it may make amlocal.db-shm: that needs room too)
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # SQLite already rolled it back (it may, after SQLITE_FULL)
                raise
        except sqlite3.Error as err:
            if space.is_full(err):
                raise space.full_error("the workspace database") from err
            raise


    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
