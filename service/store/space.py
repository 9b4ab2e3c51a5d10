"""The workspace's disk: room checked before an upload is stored, a reserve that lets deletes and a
run's end be recorded on a full disk, and staging that a restart reclaims.

A full disk is a client-visible condition, not a server fault: writing an upload, or a row to
SQLite, that finds no room raises `InsufficientStorage` (507, "no space left on device").

SQLite in WAL mode appends every transaction to `amlocal.db-wal`, a delete too: on a full disk a
DELETE fails like an INSERT (SQLITE_FULL). So the workspace keeps `space-reserve`, a file of
RESERVE_BYTES allocated while there is room. A write that must succeed on a full disk (deleting
a version or a deployment, recording a run's state and how it ended, and opening the database
when that makes amlocal.db-shm anew) gives a megabyte of it back to the filesystem and tries once
more; it is allocated again once a delete has freed space.

Uploads and registrations stage their bytes under `tmp/` in entries they hold an flock on; one
that nobody holds was left by a process that died mid-way and is removed when a process of the
workspace starts (`clean_stale_staging`).
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Callable, TypeVar

from ..errors import InsufficientStorage

T = TypeVar("T")
RESERVE_FILE = "space-reserve"
RESERVE_BYTES = 4 * 1024 * 1024
RESERVE_STEP = 1024 * 1024  # given back per write that needs it: a delete's WAL frames, amply
# Kept free beyond an upload's own size: the rows that record it are written afterwards.
MARGIN_BYTES = 1024 * 1024
STAGING_PREFIXES = ("model-", "upload-")
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
SQLITE_IOERR_SHMSIZE = 4874  # sqlite3.h (Python 3.11 names it; 3.10 does not)
MESSAGE = "no space left on device"


def free_bytes(root: Path) -> int:
    """Bytes an unprivileged writer may still use on the disk holding `root`."""
    stat = os.statvfs(root)
    return stat.f_bavail * stat.f_frsize


def require_space(root: Path, size: int, what: str, field: str | None = None) -> None:
    """Refuse (507) to store `size` bytes the disk has no room for, before storing any."""
    room = free_bytes(root) - MARGIN_BYTES
    if size > room:
        raise InsufficientStorage(f"{MESSAGE}: {what} is {size} bytes and the workspace's disk has "
                                  f"{max(room, 0)} bytes to spare; delete models or deployments, "
                                  "or free space on it.", field=field)


def remaining_size(stream: Any) -> int | None:
    """How many bytes a seekable upload stream still holds (None when it cannot tell)."""
    try:
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return end - here if isinstance(end, int) else None


def is_full(err: BaseException) -> bool:
    """Whether an OSError or SQLite error says the disk (or the user's quota) is full."""
    if isinstance(err, OSError):
        return err.errno in FULL_ERRNOS
    if isinstance(err, sqlite3.Error):
        # SQLITE_FULL: a page or WAL frame found no room; IOERR_SHMSIZE: no room to create or
        # grow amlocal.db-shm (the first connection after all were closed makes it anew).
        return getattr(err, "sqlite_errorcode", None) in (sqlite3.SQLITE_FULL, SQLITE_IOERR_SHMSIZE) \
            or "database or disk is full" in str(err)
    return False


def full_error(what: str, field: str | None = None) -> InsufficientStorage:
    """The 507 for a write that found the disk full."""
    return InsufficientStorage(f"{MESSAGE}: {what} could not be written: the workspace's disk is "
                               "full; delete models or deployments, or free space on it.",
                               field=field)


# -- the reserve -----------------------------------------------------------------------------------

def ensure_reserve(root: Path) -> None:
    """Allocate the reserve if it is missing or short and the disk has room (else try later)."""
    path = Path(root) / RESERVE_FILE
    try:
        if path.stat().st_size >= RESERVE_BYTES:
            return
    except FileNotFoundError:
        pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.posix_fallocate(fd, 0, RESERVE_BYTES)
    except OSError:  # no room for it now: a partial reserve is released as well as a whole one
        pass
    finally:
        os.close(fd)


def release_reserve(root: Path) -> bool:
    """Give RESERVE_STEP of the reserve back to the filesystem; False if there was none left."""
    path = Path(root) / RESERVE_FILE
    try:
        size = path.stat().st_size
        if size == 0:
            return False
        os.truncate(path, max(0, size - RESERVE_STEP))
    except FileNotFoundError:
        return False
    return True


def even_when_full(root: Path, write: Callable[[], T]) -> T:
    """Run a write that must succeed on a full disk: if it finds the disk full, release the
    reserve and run it once more."""
    try:
        return write()
    except InsufficientStorage:
        if not release_reserve(root):
            raise
    return write()


# -- staging ---------------------------------------------------------------------------------------

def new_staging(tmp_dir: Path, prefix: str, suffix: str = "", folder: bool = False) -> tuple[Path, int]:
    """A fresh file or folder under tmp/, held (an flock on the returned fd) so that a start-up
    clean-up leaves it alone while it is in use. It gets its name only once held: a cleaner
    never sees it unheld."""
    assert prefix in STAGING_PREFIXES, prefix
    hidden = tmp_dir / f".{prefix}{uuid.uuid4().hex}{suffix}"
    if folder:
        hidden.mkdir()
    else:
        os.close(os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    fd = os.open(hidden, os.O_RDONLY | os.O_CLOEXEC)
    fcntl.flock(fd, fcntl.LOCK_EX)
    path = hidden.with_name(hidden.name[1:])
    os.rename(hidden, path)
    return path, fd


def clean_stale_staging(tmp_dir: Path) -> list[Path]:
    """Remove what uploads and registrations that died mid-way left under tmp/: the staging
    entries no live process holds. Safe while other processes stage (theirs are held)."""
    removed = []
    try:
        entries = sorted(tmp_dir.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.name.startswith(STAGING_PREFIXES):
            continue
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # held: an upload or registration in progress
        try:
            remove_writable(entry)
            removed.append(entry)
        finally:
            os.close(fd)
    return removed


def remove_writable(path: Path) -> None:
    """Remove a file or folder, making read-only folders (a registered version's) writable
    first so that removing their files is allowed."""
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, _ in os.walk(path):
            for name in dirs:
                inner = os.path.join(folder, name)
                if not os.path.islink(inner):  # never through a link, to somewhere else
                    try:
                        os.chmod(inner, 0o700)
                    except OSError:
                        pass
        try:
            os.chmod(path, 0o700)
        except OSError:
            pass
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
