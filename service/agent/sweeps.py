"""The sweep controller: one agent loop that starts, watches and stops HyperDrive-style children.

Everything it decides is derived from stored rows (the parent, its sweep config with the seed,
its children and their metrics), so an agent that restarts picks a sweep up where it was: the
run queue has already failed the children that were running, and the samplers replay the same
configurations from the same history.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from training.sweeps import (Policy, Sampler, SweepConfig, Trial, build_policy, build_sampler,
                             child_arguments, parse_sweep_config)

from ..store import ACTIVE, Run, Store
from ..store.sweeps import SYSTEM_TAG, child_parameters
from ..sweeps import best_of

log = logging.getLogger("amlocal.sweeper")
ALL_FAILED = "All {n} child runs failed; the first failure: {first}"


@dataclass
class Plan:
    """What a sweep's stored config turns into, kept between ticks (rebuilt after a restart)."""

    config: SweepConfig
    sampler: Sampler
    policy: Policy
    stop_reason: str | None = None  # why no further child starts (mirrors the stored one)


def parse_time(text: str) -> datetime:
    """A stored ISO time (with Z) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class SweepController:
    """One agent loop: tick() drives every sweep that has not ended."""

    def __init__(self, store: Store, ws: Any, settings: Any,
                 slots: Callable[[str], int] | None = None):
        self.store, self.ws, self.settings = store, ws, settings
        # runs at once on a compute target: the local agent's slots, a cluster's CPUs
        self.slots = slots or (lambda compute: settings.max_concurrent_runs)
        self.plans: dict[str, Plan] = {}

    def tick(self) -> None:
        """Drive each active sweep once; one broken sweep does not hold up the others."""
        active = self.store.list_active_sweeps()
        for gone in set(self.plans) - set(active):
            del self.plans[gone]
        for parent_id in active:
            try:
                self.drive(parent_id)
            except Exception:
                log.exception("sweep %s: the controller failed; retrying next tick", parent_id)

    def stop(self) -> None:
        """Nothing to stop: the children are the run queue's, and sweeps resume from rows."""

    def plan(self, parent_id: str) -> Plan:
        """The parsed config, sampler and policy of a sweep (built once per agent life)."""
        if parent_id not in self.plans:
            sweep = self.store.get_sweep(parent_id)
            config = parse_sweep_config(sweep.config)
            self.plans[parent_id] = Plan(config, build_sampler(config),
                                         build_policy(config.policy), sweep.stop_reason)
        return self.plans[parent_id]

    def stop_starting(self, parent_id: str, plan: Plan, reason: str) -> None:
        """Record, once, why the sweep starts no further child."""
        if plan.stop_reason is None:
            self.store.set_sweep_stop_reason(parent_id, reason)
            plan.stop_reason = reason

    def drive(self, parent_id: str) -> None:
        """One step of a sweep: start it, stop children, start children, or end it."""
        plan = self.plan(parent_id)
        parent = self.store.get_run(parent_id)
        if parent.status == "Queued":
            for state in ("Preparing", "Running"):
                self.store.set_run_state(parent_id, state)
            parent = self.store.get_run(parent_id)
        if parent.is_terminal:  # canceled while it was still queued
            return
        children = self.store.list_children(parent_id)
        untagged = [c for c in children if f"{SYSTEM_TAG}{c.id}" not in parent.tags]
        if untagged:  # an agent stopped between creating a child and tagging the parent
            self.store.tag_parent(parent_id, untagged)
        halt = self.halt_reason(parent, plan)
        if halt:
            self.stop_starting(parent_id, plan, halt)
            for child in children:
                if not child.is_terminal and not child.cancel_requested:
                    self.store.cancel_child(child.id, f"Canceled: {halt}.")
        else:
            self.apply_policy(parent, plan, children)
            children = self.launch(parent, plan, children)
        if all(c.is_terminal for c in children) and plan.stop_reason is not None:
            self.finish(parent, plan, children)

    def halt_reason(self, parent: Run, plan: Plan) -> str | None:
        """Why every remaining child must stop now: the parent was canceled, or time is up."""
        if parent.cancel_requested:
            return f"the sweep {parent.id} was canceled"
        minutes = plan.config.max_duration_minutes
        if parent.start_time and (self.store.clock() - parse_time(parent.start_time)
                                  >= timedelta(minutes=minutes)):
            return f"the sweep reached max_duration_minutes={minutes}"
        return None

    def apply_policy(self, parent: Run, plan: Plan, children: list[Run]) -> None:
        """Cancel the running children the early-termination policy judges hopeless."""
        if plan.config.policy.type == "none":
            return
        running = {c.id for c in children if c.status in ACTIVE and not c.cancel_requested}
        if not running:
            return
        values = self.store.child_metric_values(parent.id, plan.config.primary_metric.name)
        verdicts = plan.policy.evaluate(values, plan.config.primary_metric.goal, running=running)
        for child_id, reason in verdicts.items():
            log.info("sweep %s: canceling %s: %s", parent.id, child_id, reason)
            self.store.cancel_child(child_id, reason)

    def launch(self, parent: Run, plan: Plan, children: list[Run]) -> list[Run]:
        """Start children while fewer than the concurrency limit are unfinished."""
        config = plan.config
        limit = min(config.max_concurrent_runs, self.slots(parent.compute))
        unfinished = sum(not c.is_terminal for c in children)
        values: dict[str, list[float]] | None = None
        children = list(children)
        while len(children) < config.max_total_runs and unfinished < limit:
            if values is None:  # only fetched when a child is about to start
                values = self.store.child_metric_values(parent.id, config.primary_metric.name)
            history = [Trial(i, child_parameters(c), values.get(c.id, []), c.status)
                       for i, c in enumerate(children)]
            params = plan.sampler.next(history)
            if params is None:
                self.stop_starting(parent.id, plan, f"the search space is exhausted after "
                                                    f"{len(children)} configurations")
                break
            arguments = child_arguments(parent.arguments, params)
            children.append(self.store.create_child(parent, len(children), params, arguments))
            unfinished += 1
        if len(children) >= config.max_total_runs:
            self.stop_starting(parent.id, plan, f"max_total_runs={config.max_total_runs} reached")
        return children

    def finish(self, parent: Run, plan: Plan, children: list[Run]) -> None:
        """End the parent: Canceled if asked, Failed if every child failed, else Completed."""
        best = best_of(self.store, parent.id, plan.config)
        if best is not None:
            # Azure keeps the winner on the parent as table metric best_child_by_primary_metric.
            self.store.record_events(parent.id, [{
                "type": "metric", "name": "best_child_by_primary_metric", "kind": "row",
                "value": {"run_id": best["run_id"], "metric_value": best["best_primary_metric"],
                          "final": True}}])
        self.store.set_run_state(parent.id, "Finalizing")
        if parent.cancel_requested:
            self.store.finish_run(parent.id, "Canceled", {"message": "The sweep was canceled; "
                                                                     "its children were canceled."})
        elif children and all(c.status == "Failed" for c in children):
            first = (children[0].error or {}).get("message", "unknown")
            self.store.finish_run(parent.id, "Failed", {
                "message": ALL_FAILED.format(n=len(children), first=first)})
        else:
            self.store.finish_run(parent.id, "Completed")
        log.info("sweep %s ended after %d children", parent.id, len(children))
