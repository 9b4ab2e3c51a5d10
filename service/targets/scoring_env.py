"""Which Python a generation's scoring server runs in: the service's own, or a built environment.

A no-code deployment needs the scikit-learn its model was trained with (unpickling across versions
fails or warns), so when the registry recorded a different version than the service's own, the
curated scoring spec is pinned to it and built once. A custom deployment with
`inference_config.environment` gets that environment. Either way the scoring server's own
requirements are added where the spec does not name them (Azure adds its inference stack too).
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

import scoring
from environments import (EnvBuildError, EnvSpec, EnvSpecError, materialise,
                          parse_pip_requirements, sklearn_scoring_spec)
from environments.spec import requirement_name

from ..envresolve import resolve_environment, sklearn_version_of

SCORING_ROOT = Path(scoring.__file__).resolve().parent.parent  # holds the scoring package
REQUIREMENTS = SCORING_ROOT / "docker" / "scoring-requirements.txt"


class ScoringEnvironmentError(RuntimeError):
    """The deployment's environment cannot be chosen or built (shown in its state)."""


@dataclass(frozen=True)
class ScoringEnvironment:
    """What a generation runs with: `spec` None means the service's own interpreter."""

    spec: EnvSpec | None
    reason: str

    def requirements(self) -> list[str]:
        """The pip list for an image's install step (the plain scoring list when no spec)."""
        return self.spec.pip_requirements() if self.spec else scoring_requirements()


def scoring_requirements() -> list[str]:
    """The scoring server's own requirements (one list: docker/scoring-requirements.txt)."""
    return [line.strip() for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def with_scoring_requirements(spec: EnvSpec) -> EnvSpec:
    """Add the scoring server's requirements that `spec` does not already name."""
    named = {requirement_name(r) for r in spec.pip_requirements()}
    missing = [r for r in scoring_requirements() if requirement_name(r) not in named]
    extra = parse_pip_requirements("\n".join(missing), check=False).pip if missing else ()
    return dataclasses.replace(spec, pip=tuple(sorted(set(spec.pip) | set(extra))), lines={})


def _differs_from_ours(recorded: str) -> bool:
    try:
        return Version(recorded) != Version(importlib.metadata.version("scikit-learn"))
    except (InvalidVersion, importlib.metadata.PackageNotFoundError):
        return True


def choose(store: Any, spec: dict, models: list) -> ScoringEnvironment:
    """The environment one generation (its spec and model versions) needs."""
    config = spec.get("inference_config") or None
    if config and config.get("environment") is not None:
        try:
            resolved = resolve_environment(store, config["environment"],
                                           field="inference_config.environment")
        except Exception as err:  # deleted or changed since the request was accepted
            raise ScoringEnvironmentError(getattr(err, "message", str(err))) from err
        env = with_scoring_requirements(EnvSpec.from_dict(resolved["spec"]))
        return ScoringEnvironment(env, f"environment {resolved.get('name')}:"
                                       f"{resolved.get('version')}")
    if config is None and len(models) == 1:
        recorded = sklearn_version_of(models[0])
        if recorded and _differs_from_ours(recorded):
            try:
                env = with_scoring_requirements(sklearn_scoring_spec(recorded))
            except EnvSpecError as err:
                raise ScoringEnvironmentError(f"Model {models[0].id}: {err}") from err
            return ScoringEnvironment(env, f"scikit-learn {recorded}, as recorded for "
                                           f"{models[0].id}")
    return ScoringEnvironment(None, "the service's own Python")


def build(choice: ScoringEnvironment, envs_root: Path, log_path: Path) -> tuple[str | None, dict]:
    """Materialise the choice; returns (python or None for our own, extra environment)."""
    if choice.spec is None:
        return None, {}
    try:
        built = materialise(choice.spec, envs_root, log_path=log_path)
    except (EnvBuildError, EnvSpecError) as err:
        tail = getattr(err, "log_tail", "")
        raise ScoringEnvironmentError(f"Cannot build the scoring environment ({choice.reason}): "
                                      f"{err}{' — ' + tail[-500:] if tail else ''}") from err
    ours = dict(os.environ)
    env = {k: v for k, v in built.environ(ours).items() if ours.get(k) != v}
    env["PYTHONPATH"] = str(SCORING_ROOT)
    return built.python, env
