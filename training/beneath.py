"""Opening files inside a folder that user code can write to, without following its links.

A run's folder belongs to its script while it runs: any name in it may be swapped for a link to
the workspace's token or for a FIFO between two calls. amlocal reads and writes there as the
service, so it walks each name with `O_NOFOLLOW` from the folder it made itself, and opens only
regular files, without blocking.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import BinaryIO

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def relative_parts(name: str) -> list[str]:
    """A relative path's parts; ValueError for an absolute path, '..' or nothing at all."""
    raw = str(name).replace("\\", "/")
    parts = [p for p in PurePosixPath(raw).parts if p != "."]
    if not parts or raw.startswith("/") or ".." in parts or "\0" in raw:
        raise ValueError(f"{name!r} is not a relative path inside the folder")
    return parts


def open_beneath(root: Path, name: str, flags: int = os.O_RDONLY, mode: int = 0o644,
                 make_dirs: bool = False) -> int:
    """A file descriptor for `root/name`, no component of `name` being a link.

    FileNotFoundError when a component is missing, a link or not a folder (ELOOP, ENOTDIR)."""
    parts = relative_parts(name)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # made by amlocal: trusted
    try:
        for i, part in enumerate(parts):
            if make_dirs and (i < len(parts) - 1 or flags & os.O_DIRECTORY):
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            if i == len(parts) - 1:
                return os.open(part, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
            inner = os.open(part, _DIR, dir_fd=fd)
            os.close(fd)
            fd = inner
        raise AssertionError("unreachable")
    except OSError as err:
        if err.errno in (40, 20):  # ELOOP, ENOTDIR: a link or a file where a folder should be
            raise FileNotFoundError(err.errno, f"{name}: not a plain path inside the folder") \
                from err
        raise
    finally:
        os.close(fd)


def open_regular(root: Path, name: str) -> BinaryIO:
    """`root/name` opened for reading if it is a regular file reached without links.

    FileNotFoundError otherwise (missing, a link, a FIFO, a device, a folder)."""
    fd = open_beneath(root, name, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(2, f"{name}: not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class TooLarge(ValueError):
    """More bytes than allowed were sent."""


def write_beneath(root: Path, name: str, stream: BinaryIO, max_bytes: int,
                  chunk: int = 1024 * 1024) -> int:
    """Create `root/name` (folders as needed, nothing followed) from `stream`; return its size.

    FileExistsError if it exists; TooLarge (the partial file removed) beyond `max_bytes`."""
    parts = relative_parts(name)
    parent = open_beneath(root, "/".join(parts[:-1]), os.O_RDONLY | os.O_DIRECTORY,
                          make_dirs=True) if len(parts) > 1 else os.open(
        root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                     os.O_CLOEXEC, 0o644, dir_fd=parent)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while data := stream.read(chunk):
                    size += len(data)
                    if size > max_bytes:
                        raise TooLarge(f"{name}: more than {max_bytes} bytes")
                    out.write(data)
        except BaseException:
            os.unlink(parts[-1], dir_fd=parent)  # relative to the folder we hold: no link followed
            raise
        return size
    finally:
        os.close(parent)
