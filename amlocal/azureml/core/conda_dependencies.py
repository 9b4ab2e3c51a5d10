"""azureml.core.conda_dependencies.CondaDependencies: a conda file, as text amlocal parses."""
from __future__ import annotations

from typing import Any

import yaml

from .._base import Mirrored, module_getattr


class CondaDependencies(Mirrored):
    """Conda and pip packages; serialize_to_string() is the conda file amlocal builds."""

    def __init__(self, conda_dependencies_file_path: str | None = None, _underlying_structure:
                 Any = None):
        if conda_dependencies_file_path:
            with open(conda_dependencies_file_path, encoding="utf-8") as fh:
                _underlying_structure = yaml.safe_load(fh)
        data = _underlying_structure or {"name": "project_environment",
                                         "dependencies": [], "channels": ["conda-forge"]}
        self._name = data.get("name", "project_environment")
        self._channels = list(data.get("channels") or [])
        self._conda: list[str] = []
        self._pip: list[str] = []
        for item in data.get("dependencies") or []:
            if isinstance(item, dict):
                self._pip += [str(p) for p in item.get("pip") or []]
            else:
                self._conda.append(str(item))

    @staticmethod
    def create(pip_indexurl: str | None = None, pip_packages: list | None = None,
               conda_packages: list | None = None, python_version: str | None = None,
               pin_sdk_version: bool = True) -> "CondaDependencies":
        deps = CondaDependencies()
        if python_version:
            deps.set_python_version(python_version)
        for package in conda_packages or []:
            deps.add_conda_package(package)
        for package in pip_packages or []:
            deps.add_pip_package(package)
        return deps

    @staticmethod
    def _name_of(spec: str) -> str:
        for sep in ("[", "=", "<", ">", "!", "~", " "):
            spec = spec.split(sep)[0]
        return spec.lower()

    def add_conda_package(self, conda_package: str) -> None:
        self.remove_conda_package(conda_package)
        self._conda.append(conda_package)

    def remove_conda_package(self, conda_package: str) -> None:
        name = self._name_of(conda_package)
        self._conda = [c for c in self._conda if self._name_of(c) != name]

    def add_pip_package(self, pip_package: str) -> None:
        self.remove_pip_package(pip_package)
        self._pip.append(pip_package)

    def remove_pip_package(self, pip_package: str) -> None:
        name = self._name_of(pip_package)
        self._pip = [p for p in self._pip if self._name_of(p) != name]

    def add_channel(self, channel: str) -> None:
        if channel not in self._channels:
            self._channels.append(channel)

    def set_python_version(self, version: str) -> None:
        self.add_conda_package(f"python={version}")

    def get_python_version(self) -> str | None:
        for package in self._conda:
            if self._name_of(package) == "python" and "=" in package:
                return package.split("=", 1)[1].lstrip("=")
        return None

    @property
    def conda_packages(self) -> list[str]:
        return list(self._conda)

    @property
    def pip_packages(self) -> list[str]:
        return list(self._pip)

    def _as_dict(self) -> dict:
        deps: list[Any] = list(self._conda)
        if self._pip:
            if not any(self._name_of(c) == "pip" for c in deps):
                deps.append("pip")
            deps.append({"pip": list(self._pip)})
        return {"name": self._name, "channels": self._channels or ["conda-forge"],
                "dependencies": deps}

    def serialize_to_string(self) -> str:
        return yaml.safe_dump(self._as_dict(), sort_keys=False)

    def save(self, path: str | None = None) -> str:
        path = path or "conda_dependencies.yml"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.serialize_to_string())
        return path

    save_to_file = save

    def __repr__(self) -> str:
        return self.serialize_to_string()


__getattr__ = module_getattr(__name__)
