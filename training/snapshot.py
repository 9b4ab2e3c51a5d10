"""Source snapshots: pack a directory into a deterministic .tar.gz, validate one, extract it safely.

Limits and messages follow Azure ML's snapshot client (300 MiB, 2000 files, `.amlignore` over
`.gitignore`, gitignore syntax, root file only). Validation never extracts and never reads more
than the limits allow, so a hostile archive costs at most the limits.
"""
from __future__ import annotations

import gzip
import hashlib
import itertools
import os
import posixpath
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import pathspec

MAX_BYTES = 300 * 1024**2
MAX_FILES = 2000
# Folders a member may be nested in. Far beyond a real project's; a tree thousands deep is not
# source code, and its paths pass PATH_MAX (and Python's recursion limit in os.makedirs).
MAX_DEPTH = 256
ONE_MB = 1024**2
# Tar headers and padding on top of the payload: three 512-byte blocks a member is generous.
_HEADER_ALLOWANCE = 3 * 512
_CHUNK = 1024 * 1024
IGNORE_FILES = (".amlignore", ".gitignore")


class SnapshotError(ValueError):
    """A snapshot that cannot be taken or accepted; `reason` is a short machine-readable code."""

    def __init__(self, message: str, reason: str = "invalid", member: str | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.member = member


@dataclass(frozen=True)
class PackResult:
    """What `pack` wrote: the archive, its sha256 (hex), how many files and bytes it holds."""

    path: Path
    sha256: str
    files: int
    bytes: int


def too_large_error(where: str, size: int, max_bytes: int = MAX_BYTES) -> SnapshotError:
    """Azure ML's size-limit message (one line, for an HTTP error body)."""
    return SnapshotError(
        f"While attempting to take snapshot of {where}: your total snapshot size ({size} bytes) "
        f"exceeds the limit of {max_bytes / ONE_MB} MB. "
        "Please see http://aka.ms/aml-largefiles on how to work with large files.",
        reason="too_large")


def too_many_files_error(where: str, count: int, max_files: int = MAX_FILES) -> SnapshotError:
    """Azure ML's file-count message (one line)."""
    return SnapshotError(
        f"While attempting to take snapshot of {where}: your project ({count} files) exceeds "
        f"the file limit of {max_files}.",
        reason="too_many_files")


def load_ignore_spec(source_dir: Path) -> pathspec.PathSpec | None:
    """The root `.amlignore`, else the root `.gitignore`, as a gitwildmatch spec (None if neither)."""
    for name in IGNORE_FILES:
        candidate = source_dir / name
        if candidate.is_file():
            with candidate.open(encoding="utf-8") as handle:
                return pathspec.PathSpec.from_lines("gitwildmatch", handle)
    return None


def collect(source_dir: Path, skip: Path | None = None) -> list[tuple[str, os.stat_result]]:
    """The snapshot's entries (posix relative path, lstat), sorted, after the ignore file."""
    source_dir = Path(source_dir)
    spec = load_ignore_spec(source_dir)
    skip_real = os.path.realpath(skip) if skip is not None else None
    entries: list[tuple[str, os.stat_result]] = []
    for root, dirnames, filenames in os.walk(source_dir):
        rel_root = Path(root).relative_to(source_dir).as_posix()
        rel_root = "" if rel_root == "." else rel_root + "/"
        keep_dirs = []
        for name in sorted(dirnames):
            rel = rel_root + name
            if spec is not None and spec.match_file(rel + "/"):
                continue
            if os.path.islink(os.path.join(root, name)):
                filenames.append(name)  # a linked directory is stored as the link itself
            else:
                keep_dirs.append(name)
        dirnames[:] = keep_dirs  # pruning an ignored directory skips everything below it
        for name in filenames:
            rel = rel_root + name
            full = os.path.join(root, name)
            if (spec is not None and spec.match_file(rel)) or os.path.realpath(full) == skip_real:
                continue
            entries.append((rel, os.lstat(full)))
    entries.sort(key=lambda entry: entry[0])
    return entries


def _check_link(source_dir: Path, rel: str) -> str:
    """The target of the symlink at `rel`, refused unless it stays inside the tree."""
    target = os.readlink(source_dir / rel)
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    if posixpath.isabs(target) or resolved == ".." or resolved.startswith("../"):
        raise SnapshotError(f"symlink {rel!r} points outside the source directory ({target!r})",
                            reason="outward_link", member=rel)
    return target


def _tarinfo(rel: str, st: os.stat_result) -> tarfile.TarInfo:
    """A TarInfo with fixed owner and time so the same tree always packs to the same bytes."""
    info = tarfile.TarInfo(rel)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    return info


def pack(source_dir: Path, dest: Path, max_bytes: int = MAX_BYTES,
         max_files: int = MAX_FILES) -> PackResult:
    """Pack `source_dir` into the gzip tar `dest`; refuse over the limits before writing anything."""
    source_dir, dest = Path(source_dir), Path(dest)
    if not source_dir.is_dir():
        raise SnapshotError(f"source directory {str(source_dir)!r} does not exist or is not a "
                            "directory", reason="no_source")
    entries = collect(source_dir, skip=dest)
    unsupported = [rel for rel, st in entries
                   if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode))]
    if unsupported:
        raise SnapshotError(f"{unsupported[0]!r} is not a regular file or symlink",
                            reason="special_file", member=unsupported[0])
    files = [(rel, st) for rel, st in entries if stat.S_ISREG(st.st_mode)]
    total = sum(st.st_size for _, st in files)
    if len(files) > max_files:
        raise too_many_files_error(str(source_dir), len(files), max_files)
    if total > max_bytes:
        raise too_large_error(str(source_dir), total, max_bytes)
    links = {rel: _check_link(source_dir, rel) for rel, st in entries if stat.S_ISLNK(st.st_mode)}
    tmp = dest.with_name(dest.name + f".{os.getpid()}.partial")
    try:
        _write_archive(source_dir, entries, links, tmp)
        digest = file_sha256(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return PackResult(path=dest, sha256=digest, files=len(files), bytes=total)


def _write_archive(source_dir: Path, entries: list[tuple[str, os.stat_result]],
                   links: dict[str, str], target: Path) -> None:
    """Write the entries as a tar inside a gzip stream whose header carries no name or time."""
    with target.open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, st in entries:
            info = _tarinfo(rel, st)
            if rel in links:
                info.type = tarfile.SYMTYPE
                info.linkname = links[rel]
                info.mode = 0o777
                tar.addfile(info)
                continue
            info.size = st.st_size
            with (source_dir / rel).open("rb") as handle:
                tar.addfile(info, handle)


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _BoundedReader:
    """A read-only stream that refuses to hand out more than `limit` decompressed bytes."""

    def __init__(self, raw: BinaryIO, limit: int):
        self._raw, self._limit, self._count = raw, limit, 0

    def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes; raise SnapshotError once the limit would be passed."""
        if size is None or size < 0:
            size = self._limit - self._count + 1
        data = self._raw.read(min(size, self._limit - self._count + 1))
        self._count += len(data)
        if self._count > self._limit:
            raise SnapshotError("archive expands beyond the snapshot size limit "
                                f"({self._limit} bytes with tar headers)", reason="too_large")
        return data


def _normalise(name: str) -> str:
    """A member name as a clean relative posix path, refusing absolute paths and `..`."""
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise SnapshotError(f"archive member {name!r} has an absolute path", reason="absolute_path",
                            member=name)
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SnapshotError(f"archive member {name!r} contains '..'", reason="parent_path",
                            member=name)
    return "/".join(parts)


def _inside(base_dir: str, target: str) -> bool:
    """Whether `target`, taken relative to `base_dir`, stays inside the tree."""
    if posixpath.isabs(target):
        return False
    resolved = posixpath.normpath(posixpath.join(base_dir, target))
    return resolved != ".." and not resolved.startswith("../")


class _Checker:
    """Checks members one at a time, as they stream past, against the rules and the limits."""

    def __init__(self, max_bytes: int, max_files: int, where: str):
        self.max_bytes, self.max_files, self.where = max_bytes, max_files, where
        self.files: list[str] = []
        self.file_set: set[str] = set()
        self.total = 0
        self.seen: set[str] = set()
        self.links: set[str] = set()

    def check(self, member: tarfile.TarInfo) -> None:
        """Refuse the member if unsafe or if it takes the archive over a limit."""
        name = _normalise(member.name)
        if not name:
            return  # the archive's root directory entry
        if name in self.seen:
            raise SnapshotError(f"archive member {name!r} appears twice", reason="duplicate",
                                member=name)
        parents = name.split("/")[:-1]
        if len(parents) > MAX_DEPTH:
            raise SnapshotError(f"archive member {name[:200]!r}... lies {len(parents)} folders deep; "
                                f"the limit is {MAX_DEPTH}", reason="too_deep", member=name)
        for depth in range(1, len(parents) + 1):
            if "/".join(parents[:depth]) in self.links:
                raise SnapshotError(f"archive member {name!r} lies under a symlink",
                                    reason="outward_link", member=name)
        self.seen.add(name)
        if member.isreg():
            self._count_file(name, member.size)
        elif member.issym():
            if not _inside(posixpath.dirname(name), member.linkname):
                raise SnapshotError(f"symlink {name!r} points outside the snapshot "
                                    f"({member.linkname!r})", reason="outward_link", member=name)
            self.links.add(name)
        elif member.islnk():
            try:
                target = _normalise(member.linkname)
            except SnapshotError as err:
                raise SnapshotError(f"hard link {name!r} points outside the snapshot "
                                    f"({member.linkname!r})", reason="outward_link",
                                    member=name) from err
            if target not in self.file_set:
                raise SnapshotError(f"hard link {name!r} points outside the snapshot or to no "
                                    f"file in it ({member.linkname!r})", reason="outward_link",
                                    member=name)
        elif not member.isdir():
            raise SnapshotError(f"archive member {name!r} is a device, fifo or other special file",
                                reason="special_file", member=name)

    def _count_file(self, name: str, size: int) -> None:
        """Count one regular file against the limits, failing as soon as one is passed."""
        self.files.append(name)
        self.file_set.add(name)
        self.total += size
        if len(self.files) > self.max_files:
            raise too_many_files_error(self.where, len(self.files), self.max_files)
        if self.total > self.max_bytes:
            raise too_large_error(self.where, self.total, self.max_bytes)


def _members(archive: Path, max_bytes: int, max_files: int) -> Iterator[tarfile.TarInfo]:
    """Stream the archive's members without extracting, translating format errors."""
    with Path(archive).open("rb") as raw:
        if raw.read(2) != b"\x1f\x8b":
            raise SnapshotError("the snapshot is not a gzip-compressed tar archive",
                                reason="not_gzip")
        raw.seek(0)
        budget = max_bytes + (max_files + 16) * _HEADER_ALLOWANCE
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz, \
                    tarfile.open(fileobj=_BoundedReader(gz, budget), mode="r|") as tar:
                yield from tar
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise SnapshotError(f"the snapshot is not a gzip-compressed tar archive ({err})",
                                reason="not_gzip") from err


def inspect(archive: Path, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES) -> list[str]:
    """Validate an archive without extracting it; return its regular files' normalised paths."""
    checker = _Checker(max_bytes, max_files, where=Path(archive).name)
    for member in _members(archive, max_bytes, max_files):
        checker.check(member)
    return sorted(checker.files)


def extract(archive: Path, dest: Path, max_bytes: int = MAX_BYTES,
            max_files: int = MAX_FILES) -> list[str]:
    """Validate with `inspect`, then extract into `dest` (tarfile's "data" filter on top)."""
    files = inspect(archive, max_bytes, max_files)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            tar.extractall(dest, **extra)
    except (tarfile.TarError, OSError) as err:
        raise SnapshotError(f"the snapshot could not be extracted ({err})",
                            reason="extract_failed") from err
    return files


def remove_tree(root: Path) -> None:
    """Remove a folder and everything in it, however deep: a folder's subfolders are first moved
    up into `root` (a rename), so nothing recurses and no path grows past root/<name>/<name>
    (shutil.rmtree recurses, and fails on a tree a run made thousands of folders deep)."""
    root_path = os.fspath(root)
    try:
        if not stat.S_ISDIR(os.lstat(root_path).st_mode):
            os.unlink(root_path)
            return
    except FileNotFoundError:
        return
    names = (f".removing-{os.getpid()}-{n}" for n in itertools.count())
    while True:
        entries = _entries(root_path)
        if not entries:
            break
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                for inner in _entries(entry.path):
                    if inner.is_dir(follow_symlinks=False):
                        os.rename(inner.path, os.path.join(root_path, next(names)))
                    else:
                        os.unlink(inner.path)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
    os.rmdir(root_path)


def _entries(folder: str) -> list[os.DirEntry]:
    """A folder's entries; one the run made unreadable (chmod 0) is made readable first."""
    try:
        with os.scandir(folder) as found:
            return list(found)
    except PermissionError:
        os.chmod(folder, 0o700)
        with os.scandir(folder) as found:
            return list(found)
