"""The bridge to the run context bootstrap.py loaded, and the base of names that need Azure."""
from __future__ import annotations

import sys
from typing import Any

runcontext = sys.modules["_amlocal_runcontext"]
UserErrorException = runcontext.UserErrorException


class NotInAmlocal(UserErrorException, AttributeError):
    """A part of Azure ML a run under amlocal cannot use (an AttributeError too, so hasattr()
    and getattr() with a default keep working)."""


def refuse(what: str, advice: str) -> NotInAmlocal:
    """The error for `what`, which needs Azure ML itself."""
    return NotInAmlocal(f"{what} needs Azure Machine Learning, which a run under amlocal does "
                        f"not reach. {advice}".strip())


class NeedsAzure(type):
    """Metaclass: a class attribute that is not defined raises NotInAmlocal with the advice."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise refuse(f"{cls.__name__}.{name}", cls.advice)


class AzureObject(metaclass=NeedsAzure):
    """Base of the stand-ins: constructing one, or a missing attribute, raises with the advice."""

    advice = ""

    def __init__(self, *args: Any, **kwargs: Any):
        raise refuse(f"{type(self).__name__}(...)", self.advice)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise refuse(f"{type(self).__name__}.{name}", self.advice)
