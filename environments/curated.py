"""Curated environments shipped in environments/curated/, listed like Azure ML's curated ones."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from packaging.version import InvalidVersion, Version

from environments.parsing import load_spec
from environments.spec import EnvSpec, EnvSpecError, requirement_name

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


# scikit-learn before 1.4.2 was compiled against numpy 1.x and fails to import under numpy 2.
_NUMPY2_SINCE = Version("1.4.2")
_SCORING_BASE = "amlocal-sklearn-1.9"


def sklearn_scoring_spec(sklearn_version: str, folder: Path = CURATED_DIR) -> EnvSpec:
    """Return the scoring environment with scikit-learn pinned to the version a model was saved with.

    For a no-code deployment: unpickling needs the training version, so the curated scoring spec
    gets `scikit-learn==<version>` (and `numpy<2` for versions built before numpy 2).
    """
    try:
        version = Version(sklearn_version)
    except InvalidVersion as err:
        raise EnvSpecError(f"scikit-learn version {sklearn_version!r} is not a version: {err}",
                           None, "sklearn_version") from err
    base = list_curated(folder)[_SCORING_BASE]
    pip = [r for r in base.pip if requirement_name(r) not in ("scikit-learn", "numpy")]
    pip += [f"scikit-learn=={version}", "numpy<2,>=1.24" if version < _NUMPY2_SINCE else
            "numpy>=1.24"]
    return dataclasses.replace(base, pip=tuple(sorted(pip)), name=f"amlocal-sklearn-{version}",
                               source=None, lines={})
