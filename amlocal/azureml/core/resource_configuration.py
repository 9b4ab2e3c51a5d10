"""azureml.core.resource_configuration.ResourceConfiguration."""
from __future__ import annotations

from .._base import Mirrored, module_getattr
from ..exceptions import UserErrorException


class ResourceConfiguration(Mirrored):
    """The compute a model needs when it is deployed: cpu, memory_in_gb, gpu."""

    def __init__(self, cpu: float | None = None, memory_in_gb: float | None = None,
                 gpu: int | None = None):
        self.cpu, self.memory_in_gb, self.gpu = cpu, memory_in_gb, gpu
        self._validate_configuration()

    def _validate_configuration(self) -> None:
        if self.cpu is not None and self.cpu <= 0:
            raise UserErrorException("Invalid configuration, cpu must be greater than zero.")
        if self.memory_in_gb is not None and self.memory_in_gb <= 0:
            raise UserErrorException("Invalid configuration, memory_in_gb must be greater than "
                                     "zero.")
        if self.gpu is not None and (not isinstance(self.gpu, int) or self.gpu < 0):
            raise UserErrorException("Invalid configuration, gpu must be integer and greater "
                                     "than zero.")

    def serialize(self) -> dict:
        return {"cpu": self.cpu, "memoryInGB": self.memory_in_gb, "gpu": self.gpu}

    def _body(self) -> dict:
        """As POST /models takes it."""
        return {k: v for k, v in (("cpu", self.cpu), ("memory_in_gb", self.memory_in_gb),
                                  ("gpu", self.gpu)) if v is not None}

    @staticmethod
    def deserialize(payload_obj: dict) -> "ResourceConfiguration":
        return ResourceConfiguration(payload_obj.get("cpu"),
                                     payload_obj.get("memory_in_gb", payload_obj.get("memoryInGB")),
                                     payload_obj.get("gpu"))

    def __repr__(self) -> str:
        return (f"ResourceConfiguration(cpu={self.cpu}, memory_in_gb={self.memory_in_gb}, "
                f"gpu={self.gpu})")


__getattr__ = module_getattr(__name__)
