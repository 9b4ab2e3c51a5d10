"""azureml.train.hyperdrive.parameter_expressions: `[name, [args]]`, as Azure encodes them
(amlocal's sweeps validate them the same way)."""
from __future__ import annotations

from typing import Any

from ..._base import module_getattr
from ...exceptions import UserErrorException


def choice(*options: Any) -> list:
    if len(options) == 1 and isinstance(options[0], (list, range)):
        options = tuple(options[0])
    if not options:
        raise UserErrorException("Please specify an input for choice.")
    return ["choice", [list(options)]]


def randint(upper: int) -> list:
    return ["randint", [upper]]


def uniform(min_value: float, max_value: float) -> list:
    return ["uniform", [min_value, max_value]]


def quniform(min_value: float, max_value: float, q: int) -> list:
    return ["quniform", [min_value, max_value, q]]


def loguniform(min_value: float, max_value: float) -> list:
    return ["loguniform", [min_value, max_value]]


def qloguniform(min_value: float, max_value: float, q: int) -> list:
    return ["qloguniform", [min_value, max_value, q]]


def normal(mu: float, sigma: float) -> list:
    return ["normal", [mu, sigma]]


def qnormal(mu: float, sigma: float, q: int) -> list:
    return ["qnormal", [mu, sigma, q]]


def lognormal(mu: float, sigma: float) -> list:
    return ["lognormal", [mu, sigma]]


def qlognormal(mu: float, sigma: float, q: int) -> list:
    return ["qlognormal", [mu, sigma, q]]


__getattr__ = module_getattr(__name__)
