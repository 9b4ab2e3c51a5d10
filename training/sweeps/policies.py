"""Early-termination policies with Azure ML's semantics (Bandit, MedianStopping, Truncation).

Each logged value of the primary metric is one interval. A policy looks at a child at the
latest interval it has reached that is a multiple of `evaluation_interval` and at least
`delay_evaluation`, and compares it with every child (running or finished) that reached that
interval too, using each child's best value over its first k intervals.
"""
from __future__ import annotations

import math
import statistics
from typing import Collection, Mapping, NamedTuple, Protocol, Sequence

from training.sweeps.config import PolicyConfig, parse_goal


class Policy(Protocol):
    """Decides which running children to cancel now, each with a human reason."""

    def evaluate(self, children: Mapping[str, Sequence[float]], goal: str,
                 running: Collection[str] | None = None) -> dict[str, str]:
        """`{child_id: reason}` for children to cancel; `running` limits who may be cancelled."""


def _num(x: float) -> str:
    return f"{x:.4g}"


class _Track(NamedTuple):
    """A child's best and running average after each interval (None until a usable value)."""

    bests: list[float | None]
    averages: list[float | None]


def _track(values: Sequence[float], goal: str) -> _Track:
    # One pass per child, so judging many intervals stays linear in what was logged.
    bests: list[float | None] = []
    averages: list[float | None] = []
    best, total, count = None, 0.0, 0
    better = max if goal == "maximize" else min
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            best = float(value) if best is None else better(best, float(value))
            total, count = total + value, count + 1
        bests.append(best)
        averages.append(total / count if count else None)
    return _Track(bests, averages)


class NoTerminationPolicy:
    """Azure's default policy: every child runs to its end."""

    name = "NoTerminationPolicy"

    def evaluate(self, children: Mapping[str, Sequence[float]], goal: str,
                 running: Collection[str] | None = None) -> dict[str, str]:
        """Never cancels anything."""
        return {}


class _IntervalPolicy:
    """What the three real policies share: when to look and whom to compare with."""

    name = "Policy"

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        if evaluation_interval < 1 or delay_evaluation < 0:
            raise ValueError("evaluation_interval must be >= 1 and delay_evaluation >= 0")
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation

    def interval_for(self, logged: int) -> int | None:
        """The latest interval <= `logged` at which the policy applies; None if none yet."""
        k = logged - logged % self.evaluation_interval
        return k if k >= max(1, self.delay_evaluation) else None

    def evaluate(self, children: Mapping[str, Sequence[float]], goal: str,
                 running: Collection[str] | None = None) -> dict[str, str]:
        """`{child_id: reason}` for the running children the policy cancels now."""
        goal = parse_goal(goal)
        candidates = children if running is None else [c for c in children if c in running]
        tracks = {cid: _track(values, goal) for cid, values in children.items()}
        by_interval: dict[int, dict[str, str]] = {}  # children sharing an interval share a cohort
        verdicts: dict[str, str] = {}
        for child_id in candidates:
            k = self.interval_for(len(children[child_id]))
            if k is None:
                continue
            if k not in by_interval:
                cohort = {cid: t.bests[k - 1] for cid, t in tracks.items()
                          if len(t.bests) >= k and t.bests[k - 1] is not None}
                by_interval[k] = self.judge(k, cohort, goal, tracks)
            # A child with nothing usable logged is not in its cohort: no grounds to stop it.
            if child_id in by_interval[k]:
                verdicts[child_id] = f"{self.name}: {by_interval[k][child_id]}"
        return verdicts

    def judge(self, k: int, cohort: dict[str, float], goal: str,
              tracks: Mapping[str, _Track]) -> dict[str, str]:
        """Reasons to cancel, at interval k, the members of `cohort` (child -> best over 1..k)."""
        raise NotImplementedError


class BanditPolicy(_IntervalPolicy):
    """Cancel a child whose best is outside the slack of the best child at the same interval."""

    name = "BanditPolicy"

    def __init__(self, evaluation_interval: int = 1, slack_factor: float | None = None,
                 slack_amount: float | None = None, delay_evaluation: int = 0) -> None:
        super().__init__(evaluation_interval, delay_evaluation)
        if (slack_factor is None) == (slack_amount is None):
            raise ValueError("Bandit termination policy expects exactly one of slack factor or "
                             "slack amount to be set.")
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount

    def threshold(self, top: float, goal: str) -> tuple[float, str]:
        """The value a child must reach given the best one, with the formula as text."""
        up = goal == "maximize"
        if self.slack_factor is not None:
            f = self.slack_factor
            if up:
                return top / (1 + f), f"{_num(top)} / (1 + {f:g})"
            return top * (1 + f), f"{_num(top)} * (1 + {f:g})"
        a = self.slack_amount
        return (top - a, f"{_num(top)} - {a:g}") if up else (top + a, f"{_num(top)} + {a:g}")

    def judge(self, k: int, cohort: dict[str, float], goal: str,
              tracks: Mapping[str, _Track]) -> dict[str, str]:
        """Cancel children whose best is strictly worse than the slack threshold."""
        top = max(cohort.values()) if goal == "maximize" else min(cohort.values())
        limit, formula = self.threshold(top, goal)
        side = "below" if goal == "maximize" else "above"
        return {cid: f"best {_num(own)} at interval {k} is {side} {_num(limit)} = {formula}"
                for cid, own in cohort.items()
                if (own < limit if goal == "maximize" else own > limit)}


class MedianStoppingPolicy(_IntervalPolicy):
    """Cancel a child whose best is worse than the median of all children's running averages."""

    name = "MedianStoppingPolicy"

    def judge(self, k: int, cohort: dict[str, float], goal: str,
              tracks: Mapping[str, _Track]) -> dict[str, str]:
        """Compare each child's best over 1..k with the median of averages over 1..k."""
        averages = [tracks[cid].averages[k - 1] for cid in cohort]
        median = statistics.median(averages)
        side = "below" if goal == "maximize" else "above"
        return {cid: (f"best {_num(own)} at interval {k} is {side} the median {_num(median)} "
                      f"of the running averages of {len(averages)} runs")
                for cid, own in cohort.items()
                if (own < median if goal == "maximize" else own > median)}


class TruncationSelectionPolicy(_IntervalPolicy):
    """Cancel the lowest `truncation_percentage` % of children at each interval."""

    name = "TruncationSelectionPolicy"

    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1,
                 delay_evaluation: int = 0) -> None:
        super().__init__(evaluation_interval, delay_evaluation)
        if not 1 <= truncation_percentage <= 99:
            raise ValueError("truncation_percentage expects value to be between 1 and 99.")
        self.truncation_percentage = truncation_percentage

    def judge(self, k: int, cohort: dict[str, float], goal: str,
              tracks: Mapping[str, _Track]) -> dict[str, str]:
        """Cancel the children ranking in the lowest X% of those that reached interval k."""
        count = len(cohort) * self.truncation_percentage // 100
        if count == 0:
            return {}
        # Worst first; sorted() is stable, so equal values keep the children's order.
        ranked = sorted(cohort, key=cohort.__getitem__, reverse=goal == "minimize")
        kept_worst = cohort[ranked[count]]
        # Never cancel a child as good as one that is kept: ties at the cut survive.
        return {cid: (f"best {_num(cohort[cid])} at interval {k} is in the lowest "
                      f"{self.truncation_percentage}% of {len(cohort)} runs "
                      f"(the {count} worst; the cut-off is {_num(kept_worst)})")
                for cid in ranked[:count] if cohort[cid] != kept_worst}


def build_policy(config: PolicyConfig) -> Policy:
    """The policy object for a validated policy configuration."""
    if config.type == "bandit":
        return BanditPolicy(config.evaluation_interval, config.slack_factor,
                            config.slack_amount, config.delay_evaluation)
    if config.type == "median_stopping":
        return MedianStoppingPolicy(config.evaluation_interval, config.delay_evaluation)
    if config.type == "truncation_selection":
        return TruncationSelectionPolicy(config.truncation_percentage or 0,
                                         config.evaluation_interval, config.delay_evaluation)
    return NoTerminationPolicy()
