"""Environments: conda/pip specs, their hash, cached virtual environments, Dockerfile steps.

Stands alone: imports nothing else of amlocal's.
"""
from environments.build import BuiltEnv, EnvBuildError, find_built, materialise
from environments.curated import CURATED_DIR, DEFAULT_SPEC, list_curated, sklearn_scoring_spec
from environments.dockerfile import dockerfile_steps
from environments.parsing import load_spec, parse_conda_yaml, parse_pip_requirements
from environments.spec import EnvSpec, EnvSpecError, check_machine

__all__ = [
    "BuiltEnv", "CURATED_DIR", "DEFAULT_SPEC", "EnvBuildError", "EnvSpec", "EnvSpecError",
    "check_machine", "dockerfile_steps", "find_built", "list_curated", "load_spec", "materialise",
    "parse_conda_yaml", "parse_pip_requirements", "sklearn_scoring_spec",
]
