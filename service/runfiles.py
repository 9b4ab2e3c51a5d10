"""A run's files on disk: listing, safe lookup, and its log."""
from __future__ import annotations

from pathlib import Path

from .errors import BadRequest, NotFound

LOG_FILE = "user_logs/std_log.txt"
HIDDEN = {".amlocal", "wd"}
LIVE = ("outputs", "logs")  # while a run goes these still sit in wd/


def list_run_files(run_dir: Path) -> list[dict]:
    """Every artifact of a run as {path, size}, sorted; live outputs/logs included."""
    found: dict[str, int] = {}
    if run_dir.is_dir():
        for path in run_dir.rglob("*"):
            rel = path.relative_to(run_dir)
            if rel.parts[0] in HIDDEN or not path.is_file():
                continue
            found[rel.as_posix()] = path.stat().st_size
        for sub in LIVE:
            live = run_dir / "wd" / sub
            if live.is_dir():
                for path in live.rglob("*"):
                    if path.is_file():
                        found.setdefault((Path(sub) / path.relative_to(live)).as_posix(),
                                         path.stat().st_size)
    return [{"path": p, "size": s} for p, s in sorted(found.items())]


def resolve_run_file(run_dir: Path, name: str) -> Path:
    """The file for artifact `name`, refusing anything that leaves the run's folder."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts or parts[0] in HIDDEN:
        raise BadRequest(f"Invalid file path {name!r}.", field="path")
    for candidate in (run_dir / name, run_dir / "wd" / name if parts[0] in LIVE else None):
        if candidate is not None and candidate.is_file():
            resolved = candidate.resolve()
            if run_dir.resolve() in resolved.parents:
                return resolved
    raise NotFound(f"The run has no file {name!r}.", field="path")


def read_log(run_dir: Path, offset: int, limit: int = 1024 * 1024) -> tuple[bytes, int]:
    """Bytes of the run's log from `offset`; returns (chunk, next offset)."""
    path = run_dir / LOG_FILE
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read(limit)
    except FileNotFoundError:
        return b"", offset
    return chunk, offset + len(chunk)
