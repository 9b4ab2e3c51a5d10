"""The SQLite connection's life: open in WAL mode, migrate through an ordered list of .sql files."""
from __future__ import annotations

import os
import sqlite3
from importlib import resources
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000
PRIVATE = 0o600  # the database holds scoring keys; SQLite gives its -wal and -shm the same mode
SIDE_FILES = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """Create the database file owner-only if it is missing; take group/other access away from
    it and its side files if they have any (a workspace made by an older amlocal)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE))
    for file in (path, *(path.with_name(path.name + s) for s in SIDE_FILES)):
        try:
            if os.stat(file).st_mode & 0o077:
                os.chmod(file, PRIVATE)
        except FileNotFoundError:
            pass


def connect(path: Path) -> sqlite3.Connection:
    """Open the workspace database: WAL, foreign keys, autocommit (transactions are explicit)."""
    if not os.path.exists(path):
        make_private(Path(path))  # before SQLite creates it with the umask's mode
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def migrations() -> list[tuple[int, str, str]]:
    """The ordered migration list: (number, name, sql) from service/store/migrations/NNNN_name.sql."""
    found = []
    for entry in resources.files("service.store.migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, name = entry.name[:-4].partition("_")
            found.append((int(number), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the migrations not yet applied, each in its own transaction; return those applied."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER PRIMARY KEY, "
                 "name TEXT NOT NULL, applied_time TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
    applied = []
    for number, name, sql in migrations():
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute("SELECT 1 FROM schema_migrations WHERE number = ?", (number,)).fetchone()
            if not done:
                for statement in sql.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (number, name) VALUES (?, ?)", (number, name))
                applied.append(number)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied
