"""Where Azure's samples are, and how a test runs a notebook's cell unchanged."""
from __future__ import annotations

import json
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "azure"


def notebook_cell(path: Path, marker: str) -> str:
    """The source of the one code cell of a notebook that contains `marker`."""
    cells = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    found = [source for source in cells if marker in source]
    assert len(found) == 1, f"{len(found)} cells of {path.name} contain {marker!r}"
    return found[0]
