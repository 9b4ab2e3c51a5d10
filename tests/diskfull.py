"""A small disk for disk-full tests: a tmpfs the test mounts itself (as root), unmounted after.

Where mounting is not allowed (not root, no CAP_SYS_ADMIN, a container without it) the test is
skipped with the reason; nothing else in the suite needs a mount.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


@contextlib.contextmanager
def small_disk(mountpoint: Path, size: str = "20m") -> Iterator[Path]:
    """Mount a tmpfs of `size` at `mountpoint` for the block; unmount it afterwards."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                              str(mountpoint)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'mount failed'}); "
                    "the disk-full tests need root or CAP_SYS_ADMIN")
    try:
        yield mountpoint
    finally:
        # Lazy: a process of the test that is still being stopped may hold a file open there.
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def fill(path: Path, leave: int = 0) -> int:
    """Write zeros to `path` until the disk under it is full (all but `leave` bytes); return how
    many bytes were written."""
    written = 0
    with open(path, "wb", buffering=0) as out:
        block = b"\0" * 65536
        while True:
            free = os.statvfs(path.parent).f_bavail * os.statvfs(path.parent).f_frsize - leave
            if free <= 0:
                return written
            try:
                written += out.write(block[:min(len(block), free)])
            except OSError:
                return written
