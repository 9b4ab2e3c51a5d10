"""What every mirrored module shares: NotImplementedError for what is not mirrored, lazy
submodules, and the client a workspace talks through."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any, Callable, Iterable

GUIDE = "see the README's \"Your Azure ML notebook on amlocal\" for what is mirrored"


def not_mirrored(what: str, alternative: str = GUIDE) -> NotImplementedError:
    """The one error for a part of the SDK amlocal does not mirror."""
    return NotImplementedError(f"{what} is not mirrored by amlocal: {alternative}.")


class _MirroredMeta(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise not_mirrored(f"{_azure_name(cls)}.{name}")


def _azure_name(cls: type) -> str:
    return cls.__module__.replace("amlocal.", "", 1).split("._")[0] + "." + cls.__name__


class Mirrored(metaclass=_MirroredMeta):
    """A mirrored SDK class: an attribute the SDK has and amlocal lacks is a NotImplementedError."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise not_mirrored(f"{_azure_name(type(self))}.{name}")


class Printed:
    """Azure's printing of Experiment and Run: `Name(Key: value,\n...)`, and in a notebook a
    table with a link to the object's page. Subclasses give `_get_base_info_dict`, the name
    printed (`_printed_as`) and the link's row label (`_page_label`)."""

    _printed_as = ""
    _page_label = ""

    def __str__(self) -> str:
        info = self._get_base_info_dict()  # type: ignore[attr-defined]
        return "{0}({1})".format(self._printed_as, ",\n".join(f"{k}: {v}" for k, v in info.items()))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>"
                       for k, v in self._get_base_info_dict().items())  # type: ignore[attr-defined]
        link = f'<a href="{self.get_portal_url()}" target="_blank">Link to amlocal</a>'  # type: ignore[attr-defined]
        return f"<table>{rows}<tr><th>{self._page_label}</th><td>{link}</td></tr></table>"


def module_getattr(module: str, alternatives: dict[str, str] | None = None) -> Callable:
    """A module `__getattr__`: SDK names the module lacks raise NotImplementedError."""
    alternatives = alternatives or {}

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise not_mirrored(f"{module.replace('amlocal.', '', 1)}.{name}",
                           alternatives.get(name, GUIDE))
    return __getattr__


def lazy_submodules(package: str, names: Iterable[str],
                    alternatives: dict[str, str] | None = None) -> Callable:
    """A package `__getattr__` that imports its submodules on first use."""
    names = set(names)
    fallback = module_getattr(package, alternatives)

    def __getattr__(name: str) -> Any:
        if name in names:
            return importlib.import_module(f"{package}.{name}")
        return fallback(name)
    return __getattr__


class _UnmirroredLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        module.__path__ = []  # a package, so that deeper imports come here too
        module.__getattr__ = module_getattr(module.__name__)


class _UnmirroredFinder(importlib.abc.MetaPathFinder):
    """Finds `amlocal.azureml.<anything not mirrored>` as a module whose every name raises
    NotImplementedError, so `from amlocal.azureml.pipeline.core import Pipeline` says so."""

    def __init__(self, root: str):
        self.root = root

    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith(self.root + "."):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            if finder.find_spec(fullname, path, target) is not None:
                return None  # a real module: not ours to stand in for
        return importlib.machinery.ModuleSpec(fullname, _UnmirroredLoader(), is_package=True)


def install_unmirrored_finder(root: str) -> None:
    if not any(isinstance(f, _UnmirroredFinder) for f in sys.meta_path):
        sys.meta_path.append(_UnmirroredFinder(root))
