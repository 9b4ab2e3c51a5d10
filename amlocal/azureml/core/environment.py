"""azureml.core.Environment: a conda or pip definition that amlocal builds once per content."""
from __future__ import annotations

import json
from typing import Any

from .._base import Mirrored, module_getattr, not_mirrored
from ..exceptions import UserErrorException
from ._errors import azure_errors
from .conda_dependencies import CondaDependencies

# Azure's curated environments that Azure's own notebooks name, as amlocal stands them in
# (amlocal has no Azure images). `azureml-sklearn-1.5` is scikit-learn 1.5 on amlocal's Python
# with NumPy below 1.24: the sklearn notebook's train_iris.py calls np.str and np.float, which
# NumPy 1.24 removed.
CURATED_STAND_INS = {
    "azureml-sklearn-1.5": """name: azureml-sklearn-1.5
channels:
  - conda-forge
dependencies:
  - pip
  - pip:
      - scikit-learn==1.5.2
      - numpy==1.23.5
      - scipy==1.13.1
      - joblib==1.4.2
      - threadpoolctl==3.5.0
""",
}


class PythonSection(Mirrored):
    def __init__(self) -> None:
        self.user_managed_dependencies = False
        self.interpreter_path = "python"
        self.conda_dependencies_file = None
        self.base_conda_environment = None
        self._conda = CondaDependencies()

    @property
    def conda_dependencies(self) -> CondaDependencies:
        return self._conda

    @conda_dependencies.setter
    def conda_dependencies(self, value: CondaDependencies) -> None:
        self._conda = value


class DockerSection(Mirrored):
    """Kept for the notebooks that set it: amlocal's runs do not use Docker."""

    def __init__(self) -> None:
        self.enabled = False
        self.base_image = None
        self.base_dockerfile = None
        self.base_image_registry = None
        self.shm_size = "2g"
        self.arguments: list = []


class Environment(Mirrored):
    """Environment(name): python.conda_dependencies, or a conda/pip file."""

    def __init__(self, name: str, _skip_validation: bool = False):
        if not isinstance(name, str):
            raise TypeError("Environment name must be a string")
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict = {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}
        self.inferencing_stack_version = None
        self._text: str | None = None  # the file's text, as it was given
        self._kind = "conda_spec"
        self._registered: str | None = None  # the definition registered as name:version
        self._default = False

    # -- the definition ---------------------------------------------------------------------------
    def _definition(self) -> tuple[str, str]:
        """(conda_spec | pip_requirements, text) as amlocal builds it."""
        if self._text is not None:
            return self._kind, self._text
        return "conda_spec", self.python.conda_dependencies.serialize_to_string()

    def _reference(self) -> Any:
        """What a run or deployment names: `name:version` if unchanged since registered, else
        the definition inline."""
        kind, text = self._definition()
        if self._registered == text and self.version:
            return f"{self.name}:{self.version}"
        return {kind: text}

    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> "Environment":
        env = Environment(name)
        with open(file_path, encoding="utf-8") as fh:
            env._text = fh.read()
        env.python.conda_dependencies = CondaDependencies(file_path)
        return env

    @staticmethod
    def from_pip_requirements(name: str, file_path: str,
                              pip_version: str | None = None) -> "Environment":
        env = Environment(name)
        with open(file_path, encoding="utf-8") as fh:
            env._text, env._kind = fh.read(), "pip_requirements"
        return env

    @staticmethod
    def from_docker_image(name: str, image: str, *args: Any, **kwargs: Any) -> "Environment":
        raise not_mirrored("Environment.from_docker_image", "amlocal builds environments from "
                           "conda or pip files (from_conda_specification, from_pip_requirements)")

    from_dockerfile = from_docker_image
    from_docker_build_context = from_docker_image

    # -- the registry -----------------------------------------------------------------------------
    @classmethod
    def _from_dict(cls, found: dict) -> "Environment":
        env = Environment(found["name"])
        env.version = str(found["version"])
        env._text = found["definition"]
        env._kind = "conda_spec" if found.get("kind") == "conda" else "pip_requirements"
        env._registered = env._text
        return env

    @staticmethod
    def get(workspace: Any, name: str, version: str | None = None,
            label: str | None = None) -> "Environment":
        """A registered or curated environment (Azure's curated names: see CURATED_STAND_INS)."""
        if version is not None and label is not None:
            raise UserErrorException("Only one of version or label can be specified")
        if label is not None:
            raise not_mirrored("Environment.get(label=...)", "name a version")
        try:
            with azure_errors(prefix=""):
                found = workspace._client.get(f"/environments/{name}/versions/{version or 'latest'}")
        except UserErrorException:
            if name.lower() in CURATED_STAND_INS and version is None:
                env = Environment(name)
                env._text = CURATED_STAND_INS[name.lower()]
                return env
            raise UserErrorException(f"Environment {name} version {version} not found.") from None
        return Environment._from_dict(found)

    @staticmethod
    def list(workspace: Any) -> dict:
        with azure_errors():
            found = workspace._client.get("/environments")["environments"]
        return {e["name"]: Environment._from_dict(e) for e in found}

    def register(self, workspace: Any) -> "Environment":
        kind, text = self._definition()
        with azure_errors():
            found = workspace._client.post("/environments", json={"name": self.name, kind: text})
        self.version, self._registered = str(found["version"]), text
        return self

    def build(self, workspace: Any, image_build_compute: Any = None) -> Any:
        """Build (materialise) a registered version now rather than at its first run."""
        if self._registered is None:
            self.register(workspace)
        with azure_errors():
            return workspace._client.post(
                f"/environments/{self.name}/versions/{self.version}/build")

    def clone(self, new_name: str) -> "Environment":
        env = Environment(new_name)
        env._text, env._kind = self._text, self._kind
        env.python.conda_dependencies = self.python.conda_dependencies
        return env

    def _serialize_to_dict(self) -> dict:
        kind, text = self._definition()
        return {"name": self.name, "version": self.version,
                "python": {"userManagedDependencies": self.python.user_managed_dependencies,
                           "condaDependencies" if kind == "conda_spec" else "pipRequirements":
                           text},
                "docker": {"enabled": self.docker.enabled, "baseImage": self.docker.base_image},
                "environmentVariables": self.environment_variables}

    def __repr__(self) -> str:
        return json.dumps(self._serialize_to_dict(), indent=4, sort_keys=True)

    def __str__(self) -> str:
        return f"Environment(Name: {self.name},\nVersion: {self.version})"


__getattr__ = module_getattr(__name__)
