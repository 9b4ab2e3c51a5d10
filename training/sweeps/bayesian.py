"""Bayesian sampling with Optuna's TPE sampler, fed with the children's results.

Each proposal rebuilds an in-memory study from the history (finished children with their best
primary metric, running ones as running so TPE's constant liar steers away from them), then asks.
That keeps the sampler a pure function of (space, goal, seed, history), like the others.
"""
from __future__ import annotations

import random
import secrets
from typing import Any, Sequence

import optuna
from optuna.distributions import (BaseDistribution, CategoricalDistribution,
                                  FloatDistribution, IntDistribution)
from optuna.trial import TrialState, create_trial

from training.sweeps.config import parse_goal
from training.sweeps.expressions import Expression, Value
from training.sweeps.results import TERMINAL_STATES, best_value
from training.sweeps.samplers import (Trial, config_key, derive_seed, pick_unused, space_size,
                                      used_keys)

# Asks before giving up on TPE proposing something new (it may insist on a used finite point).
_ASK_ATTEMPTS = 20


def _distribution(expression: Expression) -> BaseDistribution:
    if expression.kind == "choice":
        return CategoricalDistribution(expression.args)
    if expression.kind == "uniform":
        return FloatDistribution(float(expression.args[0]), float(expression.args[1]))
    if expression.kind == "quniform":
        # Optuna sees the multiplier k of round(x / q) * q; the value is k * q.
        return IntDistribution(0, expression.size - 1)
    raise ValueError(f"Bayesian sampling does not take {expression.kind}")


class BayesianSampler:
    """TPE over choice/uniform/quniform; never proposes a configuration already given out."""

    def __init__(self, space: dict[str, Expression], goal: str, seed: int | None = None) -> None:
        self.space = space
        self.goal = parse_goal(goal)
        self.seed = seed if seed is not None else secrets.randbits(32)
        self._distributions = {name: _distribution(e) for name, e in space.items()}
        # Optuna logs every study and trial at INFO; a sweep's proposals are not news.
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def _to_optuna(self, params: dict[str, Any]) -> dict[str, Any]:
        internal = {}
        for name, expression in self.space.items():
            value = params[name]
            if expression.kind == "quniform":
                value = round(value / expression.args[2]) - round(
                    expression.args[0] / expression.args[2])
            internal[name] = value
        return internal

    def _from_optuna(self, internal: dict[str, Any]) -> dict[str, Value]:
        params: dict[str, Value] = {}
        for name, expression in self.space.items():
            value = internal[name]
            params[name] = expression.value_at(value) if expression.kind == "quniform" else value
        return params

    def _study(self, history: Sequence[Trial]) -> optuna.Study:
        sampler = optuna.samplers.TPESampler(seed=derive_seed(self.seed, len(history)))
        study = optuna.create_study(direction=self.goal, sampler=sampler)
        for trial in history:
            try:
                params = self._to_optuna(trial.params)
                if trial.status not in TERMINAL_STATES:
                    frozen = create_trial(params=params, distributions=self._distributions,
                                          state=TrialState.RUNNING)
                else:
                    best = best_value(trial.metrics, self.goal)
                    if best is None:
                        continue  # nothing to learn from a child that never logged the metric
                    frozen = create_trial(params=params, distributions=self._distributions,
                                          value=best)
            except (KeyError, TypeError, ValueError):
                continue  # a child whose values lie outside this space teaches TPE nothing
            study.add_trial(frozen)
        return study

    def next(self, history: Sequence[Trial]) -> dict[str, Value] | None:
        """TPE's next proposal that no child has had; None once a finite space is used up."""
        used = used_keys(self.space, history)
        size = space_size(self.space)
        if size is not None and len(used) >= size:
            return None
        study = self._study(history)
        for _ in range(_ASK_ATTEMPTS):
            trial = study.ask(self._distributions)
            params = self._from_optuna(trial.params)
            if config_key(self.space, params) not in used:
                return params
            # Telling it failed moves TPE's generator on and keeps the point out of its model.
            study.tell(trial, state=TrialState.FAIL)
        if size is not None:
            rng = random.Random(derive_seed(self.seed, len(history)))
            return pick_unused(self.space, used, rng)
        return None
