"""Snapshots: packing with ignore files and limits, and refusing every unsafe archive."""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from training import snapshot
from training.snapshot import MAX_BYTES, MAX_FILES, SnapshotError, extract, inspect, pack


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Create files (relative path → text) under root."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def make_archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """Write a gzip tar from hand-made members (for archives pack would never produce)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    """A TarInfo of the given type."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def test_pack_round_trip_and_ignore_files(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"train.py": "print(1)\n", "pkg/util.py": "x = 1\n",
                                        "data/big.csv": "a,b\n", "notes.tmp": "scratch",
                                        ".gitignore": "*.py\n",
                                        ".amlignore": "data/\n*.tmp\n"})
    result = pack(src, tmp_path / "s.tar.gz")
    # .amlignore wins over .gitignore: *.py stays in, data/ and *.tmp go.
    files = inspect(result.path)
    assert files == [".amlignore", ".gitignore", "pkg/util.py", "train.py"]
    assert result.files == 4 and result.bytes == sum(
        (src / f).stat().st_size for f in files)
    out = tmp_path / "out"
    assert extract(result.path, out) == files
    assert (out / "pkg/util.py").read_text() == "x = 1\n"


def test_gitignore_used_without_amlignore(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"a.py": "", "b.log": "", "sub/.gitignore": "a.py\n",
                                        "sub/a.py": "", ".gitignore": "*.log\n"})
    files = inspect(pack(src, tmp_path / "s.tar.gz").path)
    # Only the root ignore file counts: sub/.gitignore does not drop sub/a.py.
    assert files == [".gitignore", "a.py", "sub/.gitignore", "sub/a.py"]


def test_pack_is_deterministic(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"b.py": "b", "a/c.py": "c", "run.sh": "#!/bin/sh\n"})
    (src / "run.sh").chmod(0o755)
    first = pack(src, tmp_path / "one.tar.gz")
    for path in src.rglob("*"):
        path.touch()  # new mtimes must not change the archive
    second = pack(src, tmp_path / "two.tar.gz")
    assert first.sha256 == second.sha256 == snapshot.file_sha256(second.path)
    (src / "b.py").write_text("changed")
    assert pack(src, tmp_path / "three.tar.gz").sha256 != first.sha256


def test_pack_refuses_too_many_files_before_writing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(MAX_FILES + 1):
        (src / f"f{i}.txt").touch()
    dest = tmp_path / "s.tar.gz"
    with pytest.raises(SnapshotError, match="exceeds the file limit of 2000") as caught:
        pack(src, dest)
    assert caught.value.reason == "too_many_files"
    assert not dest.exists() and list(tmp_path.iterdir()) == [src]
    (src / "f0.txt").unlink()
    assert pack(src, dest).files == MAX_FILES


def test_pack_refuses_oversize_before_writing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with (src / "huge.bin").open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(SnapshotError, match="exceeds the limit of 300.0 MB") as caught:
        pack(src, tmp_path / "s.tar.gz")
    assert caught.value.reason == "too_large"
    assert list(tmp_path.iterdir()) == [src]


def test_pack_keeps_inner_symlink_and_refuses_outward_one(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"real.py": "x"})
    (src / "alias.py").symlink_to("real.py")
    out = tmp_path / "out"
    extract(pack(src, tmp_path / "s.tar.gz").path, out)
    assert (out / "alias.py").is_symlink() and (out / "alias.py").read_text() == "x"
    (src / "escape").symlink_to("/etc/passwd")
    with pytest.raises(SnapshotError, match="outside"):
        pack(src, tmp_path / "t.tar.gz")


def test_pack_missing_source(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="does not exist"):
        pack(tmp_path / "nope", tmp_path / "s.tar.gz")


def _device() -> tarfile.TarInfo:
    info = member("dev/null", tarfile.CHRTYPE)
    info.devmajor, info.devminor = 1, 3
    return info


UNSAFE = {
    "absolute-path": ([(member("/etc/evil"), b"x")], "absolute path"),
    "dot-dot": ([(member("../evil.py"), b"x")], "contains '..'"),
    "dot-dot-inside": ([(member("a/../../evil.py"), b"x")], "contains '..'"),
    "symlink-absolute": ([(member("link", tarfile.SYMTYPE, "/etc/passwd"), None)], "outside"),
    "symlink-outward": ([(member("a/link", tarfile.SYMTYPE, "../../x"), None)], "outside"),
    "write-through-symlink": ([(member("a", tarfile.SYMTYPE, "."), None),
                               (member("a/b", tarfile.SYMTYPE, "../x"), None)], "under a symlink"),
    "hardlink-outward": ([(member("h", tarfile.LNKTYPE, "../etc/passwd"), None)], "outside"),
    "hardlink-absolute": ([(member("h", tarfile.LNKTYPE, "/etc/passwd"), None)], "outside"),
    "hardlink-to-nothing": ([(member("h", tarfile.LNKTYPE, "missing"), None)], "hard link"),
    "char-device": ([(_device(), None)], "device"),
    "fifo": ([(member("pipe", tarfile.FIFOTYPE), None)], "fifo"),
    "duplicate": ([(member("a.py"), b"1"), (member("a.py"), b"2")], "twice"),
}


@pytest.mark.parametrize("case", list(UNSAFE), ids=list(UNSAFE))
def test_unsafe_archives_are_refused_and_nothing_extracted(tmp_path: Path, case: str) -> None:
    members, reason = UNSAFE[case]
    archive = make_archive(tmp_path / "bad.tar.gz", members)
    with pytest.raises(SnapshotError, match=reason):
        inspect(archive)
    out = tmp_path / "out"
    with pytest.raises(SnapshotError):
        extract(archive, out)
    assert not out.exists()


def test_safe_links_are_accepted(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "ok.tar.gz", [
        (member("pkg/real.py"), b"x = 1"),
        (member("pkg/alias.py", tarfile.SYMTYPE, "real.py"), None),
        (member("top.py", tarfile.SYMTYPE, "pkg/real.py"), None),
        (member("hard.py", tarfile.LNKTYPE, "pkg/real.py"), None)])
    assert inspect(archive) == ["pkg/real.py"]
    out = tmp_path / "out"
    extract(archive, out)
    assert (out / "top.py").read_text() == "x = 1" == (out / "hard.py").read_text()


@pytest.mark.parametrize("content", [b"just text, not an archive", b"PK\x03\x04zip",
                                     gzip.compress(b"gzip but not a tar" * 100),
                                     b"\x1f\x8b" + b"corrupt gzip"],
                         ids=["text", "zip", "gzip-not-tar", "corrupt-gzip"])
def test_not_a_gzip_tar(tmp_path: Path, content: bytes) -> None:
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(content)
    with pytest.raises(SnapshotError, match="not a gzip-compressed tar archive") as caught:
        inspect(archive)
    assert caught.value.reason == "not_gzip"


def test_plain_tar_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "plain.tar"
    with tarfile.open(archive, "w") as tar:
        info = member("a.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(SnapshotError, match="not a gzip-compressed tar archive"):
        inspect(archive)


def _bomb(path: Path, payload: int) -> Path:
    """A gzip tar holding one file of `payload` zero bytes: tiny on disk, huge unpacked."""
    info = member("zeros.bin")
    info.size = payload
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as gz:
        gz.write(info.tobuf(format=tarfile.PAX_FORMAT))
        block = bytes(1024 * 1024)
        for _ in range(payload // len(block)):
            gz.write(block)
        gz.write(bytes(2 * 512))
    return path


def test_gzip_bomb_is_refused_without_reading_it(tmp_path: Path) -> None:
    archive = _bomb(tmp_path / "bomb.tar.gz", 64 * 1024 * 1024)
    assert archive.stat().st_size < 1024 * 1024
    reads: list[int] = []
    original = snapshot._BoundedReader.read

    def counting(self: snapshot._BoundedReader, size: int = -1) -> bytes:
        data = original(self, size)
        reads.append(len(data))
        return data

    snapshot._BoundedReader.read = counting  # type: ignore[method-assign]
    try:
        with pytest.raises(SnapshotError, match="exceeds the limit") as caught:
            inspect(archive, max_bytes=1024 * 1024)
    finally:
        snapshot._BoundedReader.read = original  # type: ignore[method-assign]
    assert caught.value.reason == "too_large"
    assert sum(reads) < 1024 * 1024  # refused at the header, not after inflating 64 MiB


def test_many_small_members_hit_the_file_limit_while_streaming(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "many.tar.gz",
                           [(member(f"f{i}"), b"") for i in range(12)])
    with pytest.raises(SnapshotError, match="file limit of 10"):
        inspect(archive, max_files=10)
    assert len(inspect(archive, max_files=12)) == 12


def test_lying_stream_is_bounded(tmp_path: Path) -> None:
    # Headers can make tarfile read ahead (long names); the reader itself refuses past the budget.
    raw = io.BytesIO(bytes(4096))
    reader = snapshot._BoundedReader(raw, limit=1000)
    assert len(reader.read(600)) == 600
    with pytest.raises(SnapshotError, match="expands beyond"):
        reader.read(600)
