"""Runs at the limits: a full disk, trees thousands of folders deep, hooks that cannot record."""
from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.diskfull import small_disk
from tests.training.helpers import RecordingHooks, make_spec
from training.executor import Executor, RunSpec
from training.snapshot import SnapshotError, inspect, remove_tree
from training.streams import OutputPump

DEPTH = 3000  # past PATH_MAX (4096 bytes) and past Python's recursion limit, both


def _deep_tree(root: Path, depth: int = DEPTH) -> None:
    """root/d/d/.../d/f, made relative to each folder (the whole path is too long for the kernel)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    finally:
        os.close(fd)


def test_remove_tree_removes_any_depth(tmp_path: Path) -> None:
    root = tmp_path / "wd"
    _deep_tree(root)
    (root / "d" / "side.txt").write_text("x")
    remove_tree(root)  # (shutil.rmtree, which the executor used, recurses: RecursionError here)
    assert not root.exists() and os.listdir(tmp_path) == []
    remove_tree(root)  # already gone: nothing to do


def test_a_deep_snapshot_is_refused_before_extraction(tmp_path: Path) -> None:
    archive = tmp_path / "deep.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        script = tarfile.TarInfo("train.py")
        script.size = 0
        tar.addfile(script, io.BytesIO())
        deep = tarfile.TarInfo("/".join(["d"] * 2000) + "/f.txt")
        deep.size = 1
        tar.addfile(deep, io.BytesIO(b"x"))
    with pytest.raises(SnapshotError, match="2000 folders deep; the limit is 256") as refused:
        inspect(archive)
    assert refused.value.reason == "too_deep"
    run_dir = tmp_path / "runs" / "r1"
    result = Executor().execute(RunSpec(run_id="r1", experiment="e", run_dir=run_dir,
                                        snapshot=archive, script="train.py"))
    assert result.status == "Failed" and "folders deep" in result.error["message"]
    assert not (run_dir / "wd").exists()


def test_a_run_that_makes_a_deep_tree_leaves_no_wd(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, {"train.py": f"""
        import os
        fd = os.open(".", os.O_RDONLY)
        for _ in range({DEPTH}):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.makedirs("outputs", exist_ok=True)
        open("outputs/done.txt", "w").write("ok")
        """})
    result = Executor().execute(spec)
    assert result.status == "Completed", result.error
    assert not (spec.run_dir / "wd").exists()
    assert (spec.run_dir / "outputs" / "done.txt").read_text() == "ok"


def test_output_that_cannot_be_written_is_counted_and_the_pipes_still_drain(tmp_path: Path) -> None:
    pump = OutputPump(Path("/dev/full"))  # every write: ENOSPC
    script = "import sys\nfor _ in range(2000): print('x' * 1000)\nprint('the end', file=sys.stderr)"
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pump.start(proc.stdout, proc.stderr)
    assert proc.wait(timeout=60) == 0  # never blocked on a full pipe
    pump.close()
    assert pump.write_error.errno == errno.ENOSPC
    assert pump.lost_bytes == 2000 * 1001 + len("the end\n")
    assert pump.stderr_tail == ["the end"]
    assert pump.lost_output() == ("no space left on device: 2002008 bytes of the run's output could "
                                  "not be written to its log")


FILL_THEN_TALK = """
    import sys, time
    try:
        with open("outputs/big.bin", "wb") as out:
            while True:
                out.write(b"\\0" * 65536)
    except OSError as err:
        print(f"outputs full: {err}", file=sys.stderr)
    if "--then-exit" in sys.argv:
        sys.exit(0)
    while True:  # goes on writing to its log, which cannot be written either
        print("still here", flush=True)
        time.sleep(0.01)
    """


@pytest.fixture
def small_run_dir(tmp_path: Path):
    with small_disk(tmp_path / "disk", "8m") as disk:
        yield disk


def test_a_run_on_a_full_disk_fails_saying_so_and_keeps_its_timeout(tmp_path: Path, small_run_dir: Path) -> None:
    spec = make_spec(tmp_path, {"train.py": FILL_THEN_TALK}, timeout_s=3.0, cancel_grace_s=1.0)
    spec = RunSpec(**{**spec.__dict__, "run_dir": small_run_dir / "runs" / spec.run_id})
    result = Executor().execute(spec)
    assert result.status == "Failed", result
    assert result.error["message"].startswith("Run exceeded its timeout of 3 s (no space left on device:")
    assert "outputs full: [Errno 28] No space left on device" in result.error["stderr_tail"]
    assert not (spec.run_dir / "wd").exists()
    assert (spec.run_dir / "outputs" / "big.bin").stat().st_size > 0  # the run's files are kept


def test_a_run_that_filled_the_disk_fails_even_with_exit_code_0(tmp_path: Path, small_run_dir: Path) -> None:
    spec = make_spec(tmp_path, {"train.py": FILL_THEN_TALK}, arguments=["--then-exit"])
    spec = RunSpec(**{**spec.__dict__, "run_dir": small_run_dir / "runs" / spec.run_id})
    result = Executor().execute(spec)
    assert (result.status, result.exit_code) == ("Failed", 0), result
    assert result.error["message"].startswith("no space left on device: ")


class FullStoreHooks(RecordingHooks):
    """Hooks whose store refuses writes once the run is going, as a full disk makes it."""

    def on_events(self, events: list[dict]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device (the workspace database)")


def test_hooks_that_cannot_record_end_the_run_cleanly(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, {"train.py": """
        import time
        from azureml.core import Run
        open("outputs/kept.txt", "w").write("kept")
        Run.get_context().log("a", 1)
        time.sleep(60)
        """}, cancel_grace_s=1.0)
    hooks = FullStoreHooks()
    result = Executor().execute(spec, hooks)
    assert result.status == "Failed"
    assert result.error["message"] == ("amlocal could not record the run: [Errno 28] No space left "
                                       "on device (the workspace database)")
    assert not (spec.run_dir / "wd").exists()
    assert (spec.run_dir / "outputs" / "kept.txt").read_text() == "kept"
