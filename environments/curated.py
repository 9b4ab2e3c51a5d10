"""Curated environments shipped in environments/curated/, listed like Azure ML's curated ones."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from environments.parsing import load_spec
from environments.spec import EnvSpec

CURATED_DIR = Path(__file__).resolve().parent / "curated"
DEFAULT_SPEC = Path(__file__).resolve().parent / "sklearn-env.yml"
_SUFFIXES = (".yml", ".yaml", ".txt")


def list_curated(folder: Path = CURATED_DIR) -> dict[str, EnvSpec]:
    """Return the curated specs by name (the YAML `name`, else the file's stem), sorted by name."""
    found: dict[str, EnvSpec] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in _SUFFIXES:
            continue
        # no machine check: listing must not depend on which interpreters this host has
        spec = load_spec(path, check=False)
        name = spec.name or path.stem
        found[name] = dataclasses.replace(spec, name=name)
    return dict(sorted(found.items()))
