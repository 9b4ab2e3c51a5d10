"""The workspace's secrets are the owner's alone: the database (it holds scoring keys) and its
WAL/SHM files and the token file are 0600, the workspace folder 0700 — even under umask 0, and
when an older amlocal left them readable."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from service.store import Store, init_workspace, load_or_create_token


@pytest.fixture
def open_umask():
    """Whatever a file is created with, nothing is masked away."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_workspace_is_private(tmp_path, open_umask):
    ws = init_workspace(tmp_path / "ws")
    store = Store(ws.db_path)
    try:
        store.create_run("exp", "t.py", [], "0" * 64)  # a write: the WAL and SHM files appear
        token = load_or_create_token(ws)
        assert token and mode(ws.token_path) == 0o600
        assert mode(ws.root) == 0o700
        for name in ("amlocal.db", "amlocal.db-wal", "amlocal.db-shm"):
            assert mode(ws.root / name) == 0o600, name
    finally:
        store.close()


def test_an_older_workspace_is_made_private(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    ws.root.chmod(0o755)
    ws.db_path.chmod(0o644)
    ws.token_path.write_text("old-token\n")
    ws.token_path.chmod(0o644)
    init_workspace(ws.root)
    assert load_or_create_token(ws) == "old-token"
    assert (mode(ws.root), mode(ws.db_path), mode(ws.token_path)) == (0o700, 0o600, 0o600)
