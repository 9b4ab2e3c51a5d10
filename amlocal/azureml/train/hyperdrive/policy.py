"""azureml.train.hyperdrive.policy: early termination, as amlocal's sweeps apply it."""
from __future__ import annotations

from typing import Any

from ..._base import Mirrored, module_getattr


class EarlyTerminationPolicy(Mirrored):
    _type: str | None = None

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0, **extra: Any):
        self._properties = {"evaluation_interval": evaluation_interval,
                            "delay_evaluation": delay_evaluation,
                            **{k: v for k, v in extra.items() if v is not None}}

    def _body(self) -> dict | None:
        return {"type": self._type, **self._properties} if self._type else None


class NoTerminationPolicy(EarlyTerminationPolicy):
    def __init__(self) -> None:
        super().__init__()


class BanditPolicy(EarlyTerminationPolicy):
    _type = "bandit"

    def __init__(self, evaluation_interval: int = 1, slack_factor: float | None = None,
                 slack_amount: float | None = None, delay_evaluation: int = 0):
        super().__init__(evaluation_interval, delay_evaluation, slack_factor=slack_factor,
                         slack_amount=slack_amount)


class MedianStoppingPolicy(EarlyTerminationPolicy):
    _type = "median_stopping"


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    _type = "truncation_selection"

    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1,
                 delay_evaluation: int = 0):
        super().__init__(evaluation_interval, delay_evaluation,
                         truncation_percentage=truncation_percentage)


__getattr__ = module_getattr(__name__)
