"""An environment spec (conda YAML or pip requirements) in normalised, hashable form."""
from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any

from environments import conda_names, interpreters


class EnvSpecError(ValueError):
    """A spec that cannot be used: carries the line (1-based, or None) and the reason."""

    status = 400

    def __init__(self, reason: str, line: int | None = None, source: str | None = None):
        self.reason = reason
        self.line = line
        self.source = source
        where = ":".join(str(p) for p in (source, line) if p is not None)
        super().__init__(f"{where}: {reason}" if where else reason)

    def to_dict(self) -> dict[str, Any]:
        """Return the error as a JSON-ready dict (message, line, reason)."""
        return {"message": str(self), "line": self.line, "reason": self.reason}


@dataclass(frozen=True)
class EnvSpec:
    """A normalised environment: Python X.Y[.Z], conda channels/packages, pip requirements."""

    python: str | None = None
    channels: tuple[str, ...] = ()
    conda: tuple[str, ...] = ()
    pip: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()
    name: str | None = field(default=None, compare=False)
    kind: str = field(default="conda", compare=False)
    source: str | None = field(default=None, compare=False)
    # Where each dependency was written ("python", "conda:<name>", "pip:<name>" -> line), for errors.
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def content(self) -> dict[str, Any]:
        """Return what defines the environment (name and file layout excluded, as in Azure ML)."""
        return {"python": self.python, "channels": list(self.channels), "conda": list(self.conda),
                "pip": list(self.pip), "variables": dict(self.variables)}

    @property
    def hash(self) -> str:
        """Hash of the normalised content together with the platform (sys.platform, machine)."""
        material = {"spec": self.content(), "platform": sys.platform,
                    "machine": platform.machine(),
                    "python": self.python or interpreters.current_python()}
        text = json.dumps(material, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def conda_only_packages(self) -> list[str]:
        """Return the conda packages that have no PyPI equivalent."""
        return [c for c in self.conda if conda_names.is_conda_only(conda_package_name(c))]

    def pip_requirements(self) -> list[str]:
        """Return everything to pip-install: conda packages mapped to PyPI names, then `pip:`."""
        pip_names = {requirement_name(r) for r in self.pip}
        mapped = []
        for dep in self.conda:
            name = conda_package_name(dep)
            if name in conda_names.PROVIDED_BY_VENV or conda_names.is_conda_only(name):
                continue
            requirement = conda_to_pip(dep)
            if requirement_name(requirement) not in pip_names:  # the pip list wins, as in conda
                mapped.append(requirement)
        return mapped + list(self.pip)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict that from_dict() reads back."""
        return {"name": self.name, "kind": self.kind, "hash": self.hash, **self.content()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvSpec:
        """Rebuild a spec from to_dict() output (the hash is recomputed, never trusted)."""
        return cls(python=data.get("python"), channels=tuple(data.get("channels", ())),
                   conda=tuple(data.get("conda", ())), pip=tuple(data.get("pip", ())),
                   variables=tuple(sorted((data.get("variables") or {}).items())),
                   name=data.get("name"), kind=data.get("kind", "conda"))

    def to_conda_yaml(self) -> str:
        """Render the spec as a conda environment file (the normalised form)."""
        lines = [f"name: {self.name or 'amlocal-env'}"]
        if self.channels:
            lines += ["channels:"] + [f"  - {c}" for c in self.channels]
        lines.append("dependencies:")
        lines += [f"  - python={self.python}"] if self.python else []
        lines += [f"  - {c}" for c in self.conda]
        lines += [] if "pip" in map(conda_package_name, self.conda) else ["  - pip"]
        if self.pip:
            lines += ["  - pip:"] + [f"      - {json.dumps(r)}" for r in self.pip]
        if self.variables:
            lines += ["variables:"] + [f"  {k}: {json.dumps(v)}" for k, v in self.variables]
        return "\n".join(lines) + "\n"


_CONDA_DEP = re.compile(
    r"^(?:(?P<channel>[A-Za-z0-9_.\-/]+)::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(?P<rest>.*)$")
_OPERATOR = re.compile(r"^(==|>=|<=|!=|~=|>|<)")


def conda_package_name(dep: str) -> str:
    """Return the package name of a normalised conda dependency."""
    return re.split(r"[\s=<>!~\[]", dep, maxsplit=1)[0]


def requirement_name(requirement: str) -> str:
    """Return the PyPI name of a normalised pip requirement."""
    return re.split(r"[\s=<>!~\[;@]", requirement, maxsplit=1)[0]


def normalise_conda_dep(text: str) -> tuple[str, str]:
    """Return (name, normalised dependency) for a conda match spec like `numpy=1.26` or `x 1.2 b0`."""
    match = _CONDA_DEP.match(text.strip())
    if not match:
        raise ValueError(f"not a conda package spec: {text!r}")
    name, rest = match["name"].lower(), match["rest"].strip()
    build = ""
    if rest.startswith("=") and not rest.startswith("=="):
        version, _, build = rest[1:].partition("=")
        # conda's `name=1.2` means any 1.2.x: write it the way pip spells that
        version = version if version.endswith("*") else version + ".*"
        version = "==" + version
    elif rest:
        version, _, build = rest.replace(" ,", ",").replace(", ", ",").partition(" ")
        if not _OPERATOR.match(version):
            version = "==" + version
    else:
        version = ""
    if "|" in version:
        raise ValueError(f"conda 'or' versions (|) are not supported: {text!r}")
    version = ",".join(sorted(p.strip() for p in version.split(","))) if version else ""
    return name, name + version + (f" {build.strip()}" if build.strip() else "")


def conda_to_pip(dep: str) -> str:
    """Translate a normalised conda dependency to a pip requirement (build strings dropped)."""
    name = conda_package_name(dep)
    version = dep[len(name):].split(" ", 1)[0]
    return conda_names.pypi_name(name) + version


def conda_arg(dep: str) -> str:
    """Spell a normalised conda dependency as a conda command-line match spec."""
    name = conda_package_name(dep)
    version, _, build = dep[len(name):].partition(" ")
    version = version[2:] if version.startswith("==") else version
    return " ".join(p for p in (name, version, build) if p)


def conda_available() -> str | None:
    """Return the conda or mamba executable on PATH, if any."""
    for tool in ("mamba", "micromamba", "conda"):
        found = shutil.which(tool)
        if found:
            return found
    return None


def check_machine(spec: EnvSpec) -> None:
    """Raise EnvSpecError if this machine cannot build the spec (Python version, conda-only deps)."""
    if spec.python is not None:
        found = interpreters.find_interpreters()
        if not any(i.satisfies(spec.python) for i in found):
            listed = ", ".join(f"{i.version} ({i.path})" for i in found) or "none"
            raise EnvSpecError(f"python={spec.python}: no interpreter on this machine satisfies it;"
                               f" found: {listed}", spec.lines.get("python"), spec.source)
    only = spec.conda_only_packages()
    if only and conda_available() is None:
        first = conda_package_name(only[0])
        raise EnvSpecError(f"'{first}' is a conda-only package with no PyPI equivalent, and no"
                           " conda or mamba is on PATH to install it; remove it from the spec",
                           spec.lines.get(f"conda:{first}"), spec.source)
