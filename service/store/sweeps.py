"""The store's verbs for sweeps: a parent run of kind 'sweep', its config row, its children."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import NotFound
from .base import StoreBase, dumps, loads
from .runs import CANCEL_REASON

SWEEP_KIND = "sweep"
HYPERPARAMETERS = "hyperparameters"  # the child's property holding its sampled values (JSON)
SYSTEM_TAG = "_aml_system_"  # + child id: the parent's tag with that child's values (as Azure)


@dataclass(frozen=True)
class Sweep:
    """A sweep's own record: the stored config (seed included), notes and why it stopped."""

    run_id: str
    config: dict
    notes: list[str]
    stop_reason: str | None


def child_index(parent_id: str, child_id: str) -> int:
    """A child's index from its id `<parent>_<index>`."""
    return int(child_id[len(parent_id) + 1:])


def child_parameters(run: Any) -> dict:
    """A child run's sampled values, typed, from its `hyperparameters` property."""
    raw = run.properties.get(HYPERPARAMETERS)
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def user_tags(tags: dict) -> dict:
    """A parent's tags without the per-child ones Azure keeps there (what children inherit)."""
    return {k: v for k, v in tags.items() if not k.startswith(SYSTEM_TAG)}


class SweepStore(StoreBase):
    """Verbs on sweeps (mixed into Store beside RunStore, whose verbs it uses)."""

    def create_sweep(self, experiment: str, run_id: str, script: str, arguments: list[str],
                     snapshot_sha256: str, config: dict, notes: list[str], *,
                     environment: Any = None, tags: dict | None = None,
                     timeout_s: float | None = None, compute: str = "local") -> Any:
        """Create the parent run, then its config row, and only then queue it for the agent."""
        parent = self.create_run(experiment, script, arguments, snapshot_sha256,  # type: ignore[attr-defined]
                                 environment=environment, tags=tags, timeout_s=timeout_s,
                                 kind=SWEEP_KIND, run_id=run_id, queued=False,
                                 compute=compute)
        with self.transaction() as conn:
            conn.execute("INSERT INTO sweeps (run_id, config, notes) VALUES (?, ?, ?)",
                         (run_id, dumps(config), dumps(notes)))
            # The controller takes only Queued parents, so it never sees one without its row.
            self._set_state(conn, run_id, "Queued", dict(parent.status_times))  # type: ignore[attr-defined]
        return self.get_run(run_id)  # type: ignore[attr-defined]

    def get_sweep(self, run_id: str) -> Sweep:
        """The sweep record of a parent run, or NotFound."""
        row = self.conn.execute("SELECT * FROM sweeps WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"Run {run_id!r} is not a sweep.", field="run_id")
        return Sweep(row["run_id"], loads(row["config"]), loads(row["notes"], []),
                     row["stop_reason"])

    def set_sweep_stop_reason(self, run_id: str, reason: str) -> None:
        """Record why the sweep starts no more children (the first reason wins)."""
        with self.transaction() as conn:
            conn.execute("UPDATE sweeps SET stop_reason = COALESCE(stop_reason, ?) "
                         "WHERE run_id = ?", (reason, run_id))

    def list_active_sweeps(self) -> list[str]:
        """Ids of sweep parents not yet ended (oldest first): what the controller drives."""
        rows = self.conn.execute(
            "SELECT id FROM runs WHERE kind = ? AND status IN "
            "('Queued', 'Preparing', 'Running', 'Finalizing') ORDER BY seq", (SWEEP_KIND,))
        return [r["id"] for r in rows]

    def list_children(self, parent_id: str) -> list[Any]:
        """A parent's children in index order."""
        runs = self.list_runs(parent_id=parent_id, limit=1_000_000)  # type: ignore[attr-defined]
        return sorted(runs, key=lambda r: child_index(parent_id, r.id))

    def child_metric_values(self, parent_id: str, name: str) -> dict[str, list[float]]:
        """Every value each child logged with run.log under `name`, in log order."""
        rows = self.conn.execute(
            "SELECT m.run_id, m.value FROM metrics m JOIN runs r ON r.id = m.run_id "
            "WHERE r.parent_id = ? AND m.name = ? AND m.kind = 'scalar' ORDER BY m.run_id, m.seq",
            (parent_id, name))
        values: dict[str, list[float]] = {}
        for row in rows:
            values.setdefault(row["run_id"], []).append(loads(row["value"]))
        return values

    def create_child(self, parent: Any, index: int, params: dict, arguments: list[str]) -> Any:
        """Queue child `<parent>_<index>` with the parent's run config and its sampled values."""
        child_id = f"{parent.id}_{index}"
        encoded = json.dumps(params)
        child = self.create_run(parent.experiment, parent.script, arguments,  # type: ignore[attr-defined]
                                parent.snapshot_sha256, environment=parent.environment,
                                tags=user_tags(parent.tags), timeout_s=parent.timeout_s,
                                parent_id=parent.id, run_id=child_id,
                                properties={HYPERPARAMETERS: encoded}, compute=parent.compute)
        self.tag_parent(parent.id, [child])
        return child

    def tag_parent(self, parent_id: str, children: list[Any]) -> None:
        """Azure keeps each child's values on the parent too, as tag _aml_system_<child id>."""
        self.update_run_tags(parent_id, {f"{SYSTEM_TAG}{c.id}": c.properties[HYPERPARAMETERS]  # type: ignore[attr-defined]
                                         for c in children})

    def cancel_child(self, child_id: str, reason: str) -> None:
        """Flag a child for cancelling and keep the reason (a policy's, a deadline) in its properties."""
        with self.transaction() as conn:
            row = conn.execute("SELECT status, properties FROM runs WHERE id = ?",
                               (child_id,)).fetchone()
            if row is None or row["status"] in ("Completed", "Failed", "Canceled"):
                return
            props = loads(row["properties"], {})
            props.setdefault(CANCEL_REASON, reason)
            conn.execute("UPDATE runs SET cancel_requested = 1, properties = ? WHERE id = ?",
                         (dumps(props), child_id))
        if row["status"] in ("NotStarted", "Queued"):
            self.finish_run(child_id, "Canceled", {"message": reason})  # type: ignore[attr-defined]
