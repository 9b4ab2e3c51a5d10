"""Resolve a pip list with uv, but settle unpinned packages where pip would: on their newest release.

pip (what Azure ML's image builds run) takes each requirement's newest release that fits and goes
lower only when that release conflicts with the rest. uv's resolver may instead keep a package it
decided first at its newest and walk another one back by years: `azureml-defaults` with
`scikit-learn` and our scoring stack on Python 3.11 resolves to azureml-defaults 1.0.45 (2019),
because numpy 2.4 was chosen before azureml-dataset-runtime's `numpy<2.3.3` was seen; pip picks
azureml-defaults 1.62.0 with numpy 2.3.2. So: resolve, ask uv for each unpinned requirement's newest
release for this interpreter on its own, and for each one left behind (in the spec's order, as pip
prefers) resolve again with `>=newest`, keeping that floor only if the whole still resolves.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

# Runs one command, writing its output to the build log; raises CalledProcessError on failure.
Runner = Callable[[list[str]], None]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
MAX_FLOORS = 8  # each floor costs a resolution; a spec with more stragglers keeps the rest as uv left them


def unpinned(requirements: list[str]) -> dict[str, str]:
    """The requirements uv may settle anywhere in a range: no `==`/`===` pin, no URL (name -> text)."""
    found: dict[str, str] = {}
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        exact = any(spec.operator in ("==", "===") and "*" not in spec.version
                    for spec in requirement.specifier)
        if not exact and requirement.url is None:
            found.setdefault(canonicalize_name(requirement.name), text)
    return found


def read_pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a `uv pip compile` output, by canonical name."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _older(chosen: str | None, newest: str | None) -> bool:
    try:
        return chosen is not None and newest is not None and Version(chosen) < Version(newest)
    except InvalidVersion:
        return False


class Resolver:
    """`uv pip compile` for one interpreter, in a scratch folder, through the build's runner."""

    def __init__(self, uv: str, python: str, run: Runner, note: Callable[[str], None]):
        self.uv, self.python, self.run, self.note = uv, python, run, note
        self.scratch = Path(tempfile.mkdtemp(prefix="amlocal-resolve-"))
        self.count = 0

    def compile(self, requirements: list[str], *options: str) -> Path:
        """Resolve `requirements`; return the pinned file (CalledProcessError if unsatisfiable)."""
        self.count += 1
        source = self.scratch / f"in-{self.count}.txt"
        source.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        target = self.scratch / f"pinned-{self.count}.txt"
        self.run([self.uv, "pip", "compile", "--no-config", "--python", self.python, "--no-header",
                  "--no-annotate", *options, "-o", str(target), str(source)])
        return target

    def resolve_like_pip(self, requirements: list[str]) -> Path:
        """The pinned file to install: uv's resolution, with unpinned stragglers raised to their
        newest release wherever that still resolves."""
        pinned = self.compile(requirements)
        loose = unpinned(requirements)
        if not loose:
            return pinned
        newest = read_pins(self.compile(list(loose.values()), "--no-deps"))
        chosen = read_pins(pinned)
        floors: list[str] = []
        for name in loose:
            if not _older(chosen.get(name), newest.get(name)):
                continue
            if len(floors) >= MAX_FLOORS:
                self.note(f"# amlocal: {name} stays at {chosen[name]} (more than {MAX_FLOORS} "
                          "packages were raised already)\n")
                continue
            floor = f"{name}>={newest[name]}"
            self.note(f"# amlocal: uv settled {name} at {chosen[name]}, but {newest[name]} is its "
                      f"newest release for this Python (pip's choice when it fits): resolving "
                      f"again with {floor}\n")
            try:
                attempt = self.compile(requirements + floors + [floor])
            except subprocess.CalledProcessError:
                self.note(f"# amlocal: {floor} conflicts with the rest of the spec: {name} stays "
                          f"at {chosen[name]}\n")
                continue
            floors.append(floor)
            pinned, chosen = attempt, read_pins(attempt)
        return pinned
