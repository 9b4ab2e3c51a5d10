"""Pack a source directory for a run, as Azure ML's snapshot client does on submit.

`.amlignore` wins over `.gitignore` (root file only, gitignore syntax); more than 2000 files or
300 MiB is refused with Azure's words before anything is sent. The archive is deterministic
(fixed owner, mode and time), so the same tree packs to the same sha256; the service checks it
again (training/snapshot.py's `inspect`) before it stores it.
"""
from __future__ import annotations

import gzip
import os
import posixpath
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pathspec

MAX_BYTES = 300 * 1024**2
MAX_FILES = 2000
IGNORE_FILES = (".amlignore", ".gitignore")


class SnapshotError(ValueError):
    """A source directory that cannot be packed (the message says why, in Azure's words)."""


@dataclass(frozen=True)
class PackResult:
    """What `pack` wrote: the archive, how many files and bytes it holds."""

    path: Path
    files: int
    bytes: int


def _ignore_spec(source_dir: Path) -> pathspec.PathSpec | None:
    for name in IGNORE_FILES:
        if (source_dir / name).is_file():
            with (source_dir / name).open(encoding="utf-8") as handle:
                return pathspec.PathSpec.from_lines("gitwildmatch", handle)
    return None


def collect(source_dir: Path, skip: Path | None = None) -> list[tuple[str, os.stat_result]]:
    """The entries to pack (posix relative path, lstat), sorted, after the ignore file."""
    spec = _ignore_spec(source_dir)
    skip_real = os.path.realpath(skip) if skip is not None else None
    entries = []
    for root, dirnames, filenames in os.walk(source_dir):
        rel_root = Path(root).relative_to(source_dir).as_posix()
        rel_root = "" if rel_root == "." else rel_root + "/"
        keep = []
        for name in sorted(dirnames):
            if spec is not None and spec.match_file(rel_root + name + "/"):
                continue
            if os.path.islink(os.path.join(root, name)):
                filenames.append(name)  # a linked folder is stored as the link itself
            else:
                keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            rel, full = rel_root + name, os.path.join(root, name)
            if (spec is not None and spec.match_file(rel)) or os.path.realpath(full) == skip_real:
                continue
            entries.append((rel, os.lstat(full)))
    return sorted(entries, key=lambda entry: entry[0])


def _link_target(source_dir: Path, rel: str) -> str:
    target = os.readlink(source_dir / rel)
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    if posixpath.isabs(target) or resolved == ".." or resolved.startswith("../"):
        raise SnapshotError(f"symlink {rel!r} points outside the source directory ({target!r})")
    return target


def _check_limits(where: str, files: int, size: int) -> None:
    """Azure's two snapshot limits, with its messages."""
    if files > MAX_FILES:
        raise SnapshotError(f"While attempting to take snapshot of {where}: your project "
                            f"({files} files) exceeds the file limit of {MAX_FILES}.")
    if size > MAX_BYTES:
        raise SnapshotError(f"While attempting to take snapshot of {where}: your total snapshot "
                            f"size ({size} bytes) exceeds the limit of {MAX_BYTES / 1024**2} MB. "
                            "Please see http://aka.ms/aml-largefiles on how to work with large "
                            "files.")


def pack(source_dir: Path, dest: Path) -> PackResult:
    """Pack `source_dir` into the gzip tar `dest`; refuse over the limits before writing."""
    source_dir, dest = Path(source_dir), Path(dest)
    if not source_dir.is_dir():
        raise SnapshotError(f"source directory {str(source_dir)!r} does not exist or is not a "
                            "directory")
    entries = collect(source_dir, skip=dest)
    odd = [rel for rel, st in entries if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode))]
    if odd:
        raise SnapshotError(f"{odd[0]!r} is not a regular file or symlink")
    files = [st for _, st in entries if stat.S_ISREG(st.st_mode)]
    _check_limits(str(source_dir), len(files), sum(st.st_size for st in files))
    links = {rel: _link_target(source_dir, rel) for rel, st in entries if stat.S_ISLNK(st.st_mode)}
    with dest.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, st in entries:
            info = tarfile.TarInfo(rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if st.st_mode & 0o111 else 0o644
            if rel in links:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, links[rel], 0o777
                tar.addfile(info)
                continue
            info.size = st.st_size
            with (source_dir / rel).open("rb") as handle:
                tar.addfile(info, handle)
    return PackResult(dest, len(files), sum(st.st_size for st in files))
