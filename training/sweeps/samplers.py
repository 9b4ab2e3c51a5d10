"""Random and grid samplers, and how a sampled configuration reaches the script's arguments.

Every sampler is a pure function of (space, seed, history): the agent can rebuild one after a
restart from the children it recorded, and get the same next configuration.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import random
import secrets
from typing import Any, Iterator, NamedTuple, Protocol, Sequence

from training.sweeps.expressions import Expression, Value

# Draws before concluding that a random space has (effectively) no unused configuration left.
_RANDOM_ATTEMPTS = 200
# How many unused configurations to gather when falling back from drawing to enumerating.
_REMAINING_SAMPLE = 10_000


class Trial(NamedTuple):
    """A child as a sampler sees it: its index, sampled values, primary metric so far, state."""

    index: int
    params: dict[str, Any]
    metrics: Sequence[float]
    status: str


class Sampler(Protocol):
    """Proposes the next configuration given every child created so far; None = exhausted."""

    seed: int | None  # what to keep with the sweep to reproduce it (None: grid needs none)

    def next(self, history: Sequence[Trial]) -> dict[str, Value] | None:
        """The next configuration to run, or None when the space has nothing new."""


def derive_seed(seed: int, n: int) -> int:
    """A 32-bit seed for the n-th proposal, stable across processes and Python versions."""
    digest = hashlib.sha256(f"{seed}:{n}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def config_key(space: dict[str, Expression], params: dict[str, Any]) -> tuple:
    """What makes two configurations the same: their values, in the space's order."""
    return tuple(params.get(name) for name in space)


def used_keys(space: dict[str, Expression], history: Sequence[Trial]) -> set[tuple]:
    """The configurations already given to a child (running or finished)."""
    return {config_key(space, trial.params) for trial in history}


def space_size(space: dict[str, Expression]) -> int | None:
    """How many configurations a space holds; None when any expression is continuous."""
    if not all(e.finite for e in space.values()):
        return None
    return math.prod(e.size for e in space.values())


def enumerate_space(space: dict[str, Expression]) -> Iterator[dict[str, Value]]:
    """Every configuration of a finite space: the cartesian product, last name varying fastest."""
    names = list(space)
    for indexes in itertools.product(*(range(space[n].size) for n in names)):
        yield {n: space[n].value_at(i) for n, i in zip(names, indexes)}


def pick_unused(space: dict[str, Expression], used: set[tuple],
                rng: random.Random) -> dict[str, Value] | None:
    """A random configuration of a finite space not yet used, by enumeration; None if none."""
    remaining = []
    for params in enumerate_space(space):
        if config_key(space, params) not in used:
            remaining.append(params)
            if len(remaining) >= _REMAINING_SAMPLE:
                break
    return rng.choice(remaining) if remaining else None


class GridSampler:
    """The full cartesian product of `choice` values, in a stable order, each exactly once."""

    def __init__(self, space: dict[str, Expression]) -> None:
        if any(e.kind != "choice" for e in space.values()):
            raise ValueError("grid sampling takes only choice expressions")
        self.space = space
        self.seed: int | None = None

    def next(self, history: Sequence[Trial]) -> dict[str, Value] | None:
        """The first configuration of the product that no child has had yet."""
        used = used_keys(self.space, history)
        for params in enumerate_space(self.space):
            if config_key(self.space, params) not in used:
                return params
        return None


class RandomSampler:
    """Independent draws with Azure's distributions; a finite space never repeats a configuration.

    The n-th proposal draws from a generator seeded by (seed, n), so the same seed gives the
    same sequence of configurations.
    """

    def __init__(self, space: dict[str, Expression], seed: int | None = None) -> None:
        self.space = space
        # Without a seed the sweep is still reproducible from this value if the caller keeps it.
        self.seed = seed if seed is not None else secrets.randbits(32)

    def next(self, history: Sequence[Trial]) -> dict[str, Value] | None:
        """A fresh random configuration, or None once a finite space is used up."""
        used = used_keys(self.space, history)
        size = space_size(self.space)
        if size is not None and len(used) >= size:
            return None
        rng = random.Random(derive_seed(self.seed, len(history)))
        for _ in range(_RANDOM_ATTEMPTS):
            params = {name: e.sample(rng) for name, e in self.space.items()}
            if config_key(self.space, params) not in used:
                return params
        # Drawing kept hitting used values: the finite space is nearly used up, so enumerate.
        if size is not None:
            return pick_unused(self.space, used, rng)
        return None


def argument_name(name: str) -> str:
    """Azure's rule: a name starting with '-' is used as is, any other gets '--'."""
    return name if name.startswith("-") else f"--{name}"


def argument_value(value: Any) -> str:
    """How a sampled value is written on the command line (values arrive as strings)."""
    return value if isinstance(value, str) else str(value)


def child_arguments(base_args: Sequence[str], params: dict[str, Any]) -> list[str]:
    """The child's command line: the base arguments, then `--name value` per hyperparameter.

    The base arguments are kept, so argparse's last-occurrence rule makes the sampled value win.
    """
    args = list(base_args)
    for name, value in params.items():
        args += [argument_name(name), argument_value(value)]
    return args
