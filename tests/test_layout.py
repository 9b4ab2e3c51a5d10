"""The house rules: imports go one way between folders (ARCHITECTURE.md), and nothing imports in a
circle. Every import counts, at module level or inside a function."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("service", "training", "scoring", "environments", "amlocal")

# Each room, and the rooms it may import (its own room is always allowed). A module belongs to
# the longest room name that prefixes it. `service.domain` stands for the resource modules at
# service/'s root.
DOMAIN = ("service.runs", "service.models", "service.deployments", "service.environments",
          "service.sweeps", "service.containertests", "service.computes")
BASE = ("service.errors", "service.settings")
RULES: dict[str, tuple[str, ...]] = {
    "service": (),  # the package itself (empty)
    "scoring": (),
    "environments": (),
    "training": ("environments",),
    "service.store": ("service.errors", "environments"),
    "service.introspect": ("training",),
    "service.targets": (*BASE, "service.store", "service.environments", "training",
                        "environments", "scoring"),
    "service.domain": (*BASE, *DOMAIN, "service.store", "service.targets", "service.introspect",
                       "training", "environments", "scoring"),
    # service.auth: a view may ask who calls (a run registering its own files, by its run token)
    "service.api": (*BASE, *DOMAIN, "service.store", "service.introspect", "training",
                    "service.auth"),
    "service.agent": (*BASE, *DOMAIN, "service.store", "service.targets", "training"),
    "service.cli": ("service.settings", "service.store.workspace", "service.serve", "training",
                    "amlocal.client"),
    # amlocal: the client package a notebook installs (the CLI's HTTP client, amlocal.azureml)
    "amlocal": (),
    # service.dashboard: the web pages, over the same domain and store the API views use
    "service.dashboard": (*BASE, *DOMAIN, "service.store", "training"),
    "service.app": (*BASE, "service.api", "service.auth", "service.store", "service.dashboard"),
    "service.wsgi": ("service.app",),
    # service.store: a run-scoped token is resolved (by its sha256) and checked in the store
    "service.auth": ("service.errors", "service.store"),
    "service.serve": (*BASE, "service.store"),
    "service.errors": (),
    "service.settings": (),
}
# service/ may use the scoring package only for names and its location, never its modules.
SCORING_FROM_SERVICE = {"scoring"}


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = project_modules()


def imports_of(name: str, path: Path) -> set[str]:
    """The project modules `name` imports (relative imports resolved, `from x import y` → x.y
    when y is a module)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def room_of(module: str) -> str:
    if module in DOMAIN:
        return "service.domain"
    rooms = [r for r in RULES if module == r or module.startswith(r + ".") and r != "service"]
    if not rooms:
        raise AssertionError(f"{module} is in no room of RULES: add it to the house rules")
    return max(rooms, key=len)


def allowed(source: str, target: str) -> bool:
    room = room_of(source)
    if room == room_of(target):
        return True
    if target == "scoring" and source.startswith("service."):
        return True
    if target.startswith("scoring") and source.startswith("service."):
        return False
    return any(target == r or target.startswith(r + ".") for r in RULES[room])


def test_every_module_has_a_room():
    assert {room_of(m) for m in MODULES} <= set(RULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_the_ways_the_house_allows(module):
    wrong = sorted(t for t in GRAPH[module] if not allowed(module, t))
    assert not wrong, f"{module} ({room_of(module)}) may not import {wrong}"


def test_no_module_imports_in_a_circle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert circles == []


def test_the_rules_can_fail():
    # The walker sees relative imports inside functions, and the rules refuse a wrong way.
    assert "service.store" in GRAPH["service.api.context"]
    assert not allowed("service.store.runs", "service.api")
    assert not allowed("scoring.server", "service.errors")
    assert not allowed("service.cli.client", "service.store.runs")
    assert not allowed("amlocal.azureml.core.run", "service.settings")
