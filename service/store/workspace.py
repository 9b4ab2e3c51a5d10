"""The workspace folder: its layout, its database and its API token."""
from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from . import db, space

TOKEN_FILE = "api-token"
PRIVATE_DIR = 0o700  # user code never needs the host's path to it (training/sandbox.py)
SUBDIRS = ("snapshots", "runs", "models", "deployments", "envs", "tmp")


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace folder (see ARCHITECTURE.md, 'The workspace')."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "amlocal.db"

    def snapshot(self, sha256: str) -> Path:
        return self.root / "snapshots" / f"{sha256}.tar.gz"

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def model_dir(self, name: str, version: int) -> Path:
        return self.root / "models" / name / str(version)

    def deployment_dir(self, name: str) -> Path:
        return self.root / "deployments" / name

    @property
    def envs_dir(self) -> Path:
        return self.root / "envs"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def token_path(self) -> Path:
        return self.root / TOKEN_FILE


def init_workspace(root: Path) -> Workspace:
    """Create the folders (the workspace itself owner-only) and migrate the database (0600);
    safe to call from several processes."""
    ws = Workspace(Path(root).resolve())
    ws.root.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if ws.root.stat().st_mode & 0o077 and ws.root.stat().st_uid == os.geteuid():
        os.chmod(ws.root, PRIVATE_DIR)  # a workspace made by an older amlocal
    for sub in SUBDIRS:
        (ws.root / sub).mkdir(parents=True, exist_ok=True)
    db.make_private(ws.db_path)
    # On a full disk the space reserve pays for amlocal.db-shm, so the service still starts.
    space.even_when_full(ws.root, lambda: _migrate(ws.db_path))
    space.ensure_reserve(ws.root)  # what lets deletes work on a full disk
    space.clean_stale_staging(ws.tmp_dir)  # left by uploads and registrations that died
    return ws


def _migrate(path: Path) -> None:
    try:
        conn = db.connect(path)
        try:
            db.migrate(conn)
        finally:
            conn.close()
    except sqlite3.Error as err:
        if space.is_full(err):
            raise space.full_error("the workspace database") from err
        raise


def load_or_create_token(ws: Workspace, configured: str | None = None) -> str:
    """The API token: the configured one, else the saved one, else a new one saved with mode 0600."""
    if configured:
        return configured
    try:
        if ws.token_path.stat().st_mode & 0o077:
            os.chmod(ws.token_path, 0o600)  # saved by an older amlocal
        return ws.token_path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    tmp = ws.token_path.with_suffix(f".tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    try:
        os.link(tmp, ws.token_path)  # first writer wins; others read the winner's token
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return ws.token_path.read_text(encoding="utf-8").strip()
