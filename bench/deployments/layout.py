"""What a deployment's own copy of its model costs at start-up: the layout step with read-only
copies (reflink where the filesystem has them) against the hardlinks it used before.

    .venv/bin/python -m bench.deployments.layout [--dir DIR] [--repeats 20]

DIR is where the registry and the deployments sit (default: a temp folder; give a btrfs or XFS
folder to see reflinks). Sizes: the iris SVC's model.joblib (a few KB) and a 100 MiB file.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from service.targets.layout import copy_model_file  # noqa: E402


def _hardlink(src: Path, dest: Path) -> str:
    """What the layout did before: a hardlink, which shares the registered bytes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.link(src, dest)
    return "hardlink"


def _iris_bytes() -> bytes:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC
    X, y = load_iris(return_X_y=True)
    buf = io.BytesIO()
    joblib.dump(SVC(kernel="linear").fit(X, y), buf)
    return buf.getvalue()


def time_layout(place, src: Path, root: Path, repeats: int) -> tuple[float, str]:
    """Median milliseconds to lay one file out `repeats` times (fresh destination each time)."""
    times, how = [], ""
    for i in range(repeats):
        dest = root / f"d{i}" / "azureml-models" / "m" / "1" / src.name
        started = time.perf_counter()
        how = place(src, dest)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), how


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where to lay out (default: a temp folder)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-layout-", dir=args.dir))
    registry = base / "registry"
    registry.mkdir()
    files = {"iris model.joblib": registry / "model.joblib", "100 MiB file": registry / "big.bin"}
    files["iris model.joblib"].write_bytes(_iris_bytes())
    with open(files["100 MiB file"], "wb") as out:
        for _ in range(100):
            out.write(os.urandom(1024 * 1024))
    print("| file | size | hardlink (before), ms | copy_model_file (now), ms | how |\n|---|---|---|---|---|")
    for label, src in files.items():
        linked, _ = time_layout(_hardlink, src, base / "linked" / label.split()[0], args.repeats)
        copied, how = time_layout(copy_model_file, src, base / "copied" / label.split()[0], args.repeats)
        print(f"| {label} | {src.stat().st_size:,} B | {linked:.3f} | {copied:.3f} | {how} |")
    import shutil
    shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
