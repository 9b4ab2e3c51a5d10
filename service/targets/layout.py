"""A generation's files, laid out as Azure ML lays out a scoring container's app root.

    deployments/<name>/<generation>/azureml-app/
        <entry script>  (the no-code entry when there is no inference config)
        azureml-models/<model>/<version>/...   (read-only copies of the registered files)
    deployments/<name>/<generation>/logs/
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable

from scoring import NOCODE_ENTRY_SCRIPT

from ..store import Workspace

APP_DIR = "azureml-app"
MODELS_DIR = "azureml-models"


class LayoutError(Exception):
    """The files of a generation cannot be laid out (a missing model file, a bad source)."""


@dataclass(frozen=True)
class AppLayout:
    """Where a generation's app, entry script, models and logs are."""

    root: Path            # deployments/<name>/<generation>
    app_root: Path        # .../azureml-app
    entry_script: str     # relative to app_root
    model_dir: Path       # AZUREML_MODEL_DIR (absolute)
    source_dir: Path | None  # the entry script's source (None for no-code)

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def log_path(self) -> Path:
        return self.log_dir / "scoring.log"

    @property
    def model_dir_rel(self) -> str:
        return self.model_dir.relative_to(self.app_root).as_posix()


def generation_dir(ws: Workspace, name: str, generation: int) -> Path:
    """deployments/<name>/<generation>."""
    return ws.deployment_dir(name) / str(generation)


FICLONE = 0x40049409  # linux/fs.h: share the source's blocks (btrfs, XFS, bcachefs, ...)
READ_ONLY = 0o444


def copy_model_file(src: Path, dest: Path) -> str:
    """The deployment's own read-only copy of a registered file: a reflink where the filesystem
    can share blocks, else a copy made in the kernel. Never a hardlink: a score.py that writes
    to its model file must not change the registered version. Returns "reflink" or "copy"."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    how = "reflink"
    with open(src, "rb") as source, open(dest, "xb") as target:
        try:
            fcntl.ioctl(target.fileno(), FICLONE, source.fileno())
        except OSError:  # not here (ext4, tmpfs), or across filesystems
            how = "copy"
            _copy_in_kernel(source, target)
    os.chmod(dest, READ_ONLY)
    return how


def _copy_in_kernel(source: BinaryIO, target: BinaryIO) -> None:
    """copy_file_range(): no bytes through user space (and a server-side copy on NFS); plain
    reads and writes where the kernel or filesystem has no such call."""
    size, done = os.fstat(source.fileno()).st_size, 0
    try:
        while done < size:
            copied = os.copy_file_range(source.fileno(), target.fileno(), size - done)
            if copied == 0:
                break
            done += copied
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise
        source.seek(done)
        target.seek(done)
        shutil.copyfileobj(source, target)


def lay_out_models(models: list[Any], app_root: Path) -> Path:
    """azureml-models/<name>/<version>/<files>; returns AZUREML_MODEL_DIR as Azure sets it."""
    base = app_root / MODELS_DIR
    for model in models:
        target = base / model.name / str(model.version)
        for entry in model.files:
            src = Path(model.dir) / entry["path"]
            if not src.is_file():
                raise LayoutError(f"model {model.id}: registered file {entry['path']} is missing "
                                  f"from {model.dir}")
            copy_model_file(src, target / entry["path"])
        target.mkdir(parents=True, exist_ok=True)
    if len(models) == 1:
        return base / models[0].name / str(models[0].version)
    base.mkdir(parents=True, exist_ok=True)
    return base


def write_source(source: dict, dest: Path, extract_run: Callable[[str, Path], None]) -> None:
    """The inference config's source: inline files, or a run's snapshot extracted."""
    dest.mkdir(parents=True, exist_ok=True)
    if "run_id" in source:
        extract_run(source["run_id"], dest)
        return
    for rel, text in source["files"].items():
        path = PurePosixPath(rel)
        if path.is_absolute() or ".." in path.parts:
            raise LayoutError(f"source file {rel!r} is outside the app root")
        out = dest / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")


def lay_out(ws: Workspace, name: str, generation: int, spec: dict, models: list[Any],
            extract_run: Callable[[str, Path], None]) -> AppLayout:
    """(Re)create the generation's folder: source, entry script, models, an empty log folder."""
    root = generation_dir(ws, name, generation)
    if root.exists():
        shutil.rmtree(root)
    return lay_out_app(root, spec, models, extract_run)


def lay_out_app(root: Path, spec: dict, models: list[Any],
                extract_run: Callable[[str, Path], None]) -> AppLayout:
    """Fill an empty `root` as a deployment generation's folder is laid out (a container test
    builds the same image from it)."""
    app_root = root / APP_DIR
    config = spec.get("inference_config")
    source_dir = None
    if config is None:
        app_root.mkdir(parents=True)
        entry = Path(NOCODE_ENTRY_SCRIPT).name
        shutil.copy2(NOCODE_ENTRY_SCRIPT, app_root / entry)
    else:
        source_dir = root / "source"
        write_source(config["source"], source_dir, extract_run)
        entry = config["entry_script"]
        if not (source_dir / entry).is_file():
            raise LayoutError(f"entry script {entry} is not in the source")
        shutil.copytree(source_dir, app_root)
    model_dir = lay_out_models(models, app_root)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    return AppLayout(root=root, app_root=app_root, entry_script=entry, model_dir=model_dir,
                     source_dir=source_dir)
