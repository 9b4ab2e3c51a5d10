"""azureml.train.hyperdrive.sampling."""
from __future__ import annotations

from typing import Any

from ..._base import Mirrored, module_getattr


class HyperParameterSampling(Mirrored):
    _type = "random"
    _azure_name = "RANDOM"

    def __init__(self, parameter_space: dict, properties: dict | None = None):
        self._parameter_space = dict(parameter_space)
        self._properties = dict(properties or {})

    def _body(self) -> dict:
        body: dict[str, Any] = {"type": self._type, "space": self._parameter_space}
        seed = self._properties.get("random_seed", self._properties.get("seed"))
        if seed is not None:
            body["seed"] = seed
        return body

    def to_json(self) -> dict:
        return {"name": self._azure_name, "parameter_space": self._parameter_space,
                **({"properties": self._properties} if self._properties else {})}


class RandomParameterSampling(HyperParameterSampling):
    pass


class GridParameterSampling(HyperParameterSampling):
    _type, _azure_name = "grid", "GRID"


class BayesianParameterSampling(HyperParameterSampling):
    _type, _azure_name = "bayesian", "BayesianOptimization"


__getattr__ = module_getattr(__name__)
