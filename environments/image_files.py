"""Where the scoring image's Dockerfile and requirements list are, in any install of amlocal.

A source checkout has them in docker/; a wheel carries copies as environments/scoring_image/
(setup.py's build_py), since docker/ is no package. The wheel's copy wins when both exist.
"""
from __future__ import annotations

from pathlib import Path

PACKAGED = Path(__file__).resolve().parent / "scoring_image"
CHECKOUT = Path(__file__).resolve().parents[1] / "docker"
DOCKERFILE = "scoring.Dockerfile"
REQUIREMENTS = "scoring-requirements.txt"


def image_file(name: str) -> Path:
    """The path of `name` (DOCKERFILE or REQUIREMENTS); FileNotFoundError naming both places."""
    for folder in (PACKAGED, CHECKOUT):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{name} is missing from this amlocal installation (looked in "
                            f"{PACKAGED} and {CHECKOUT}); reinstall amlocal")
