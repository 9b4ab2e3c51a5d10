"""Compute targets in verbs: where runs execute. `local` is built in and has no row."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..errors import Conflict, NotFound
from .base import StoreBase

LOCAL = "local"
UNFINISHED = ("NotStarted", "Queued", "Preparing", "Running", "Finalizing")


@dataclass(frozen=True)
class ComputeTarget:
    """A named compute target (Azure ML's ComputeTarget): its type and its cluster's address."""

    name: str
    type: str
    address: str
    description: str
    created_time: str


BUILT_IN = ComputeTarget(LOCAL, "local", "", "this machine: the agent's own run queue", "")


def _compute_from_row(row) -> ComputeTarget:
    return ComputeTarget(row["name"], row["type"], row["address"], row["description"],
                         row["created_time"])


class ComputeStore(StoreBase):
    """Verbs on compute targets."""

    def create_compute(self, name: str, type_: str, address: str,
                       description: str = "") -> ComputeTarget:
        """Add a target; a name in use (or `local`) is a 409."""
        if name == LOCAL:
            raise Conflict("Compute 'local' is built in.", field="name")
        try:
            with self.transaction() as conn:
                conn.execute("INSERT INTO computes (name, type, address, description, "
                             "created_time) VALUES (?, ?, ?, ?, ?)",
                             (name, type_, address, description, self.now()))
        except sqlite3.IntegrityError as err:
            raise Conflict(f"Compute {name!r} already exists.", field="name") from err
        return self.get_compute(name)

    def get_compute(self, name: str) -> ComputeTarget:
        """The target, `local` included, or NotFound."""
        if name == LOCAL:
            return BUILT_IN
        row = self.conn.execute("SELECT * FROM computes WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"Compute {name!r} not found.", field="name")
        return _compute_from_row(row)

    def list_computes(self) -> list[ComputeTarget]:
        """Every target, `local` first, then by name."""
        rows = self.conn.execute("SELECT * FROM computes ORDER BY name")
        return [BUILT_IN, *(_compute_from_row(r) for r in rows)]

    def computes_with_queued_runs(self) -> list[str]:
        """The targets other than `local` that have Queued script runs."""
        rows = self.conn.execute("SELECT DISTINCT compute FROM runs WHERE status = 'Queued' AND "
                                 "kind = 'script' AND compute != ?", (LOCAL,))
        return [r["compute"] for r in rows]

    def count_unfinished_runs(self, compute: str) -> dict[str, int]:
        """How many script runs on `compute` are in each unfinished state."""
        marks = ",".join("?" * len(UNFINISHED))
        rows = self.conn.execute(f"SELECT status, COUNT(*) AS n FROM runs WHERE compute = ? AND "
                                 f"kind = 'script' AND status IN ({marks}) GROUP BY status",
                                 (compute, *UNFINISHED))
        return {r["status"]: r["n"] for r in rows}

    def delete_compute(self, name: str) -> None:
        """Remove a target; one with unfinished runs is a 409 (runs keep its name)."""
        self.get_compute(name)
        if name == LOCAL:
            raise Conflict("Compute 'local' is built in; it cannot be deleted.", field="name")
        with self.transaction() as conn:
            busy = conn.execute("SELECT COUNT(*) FROM runs WHERE compute = ? AND status IN "
                                f"({','.join('?' * len(UNFINISHED))})",
                                (name, *UNFINISHED)).fetchone()[0]
            if busy:
                raise Conflict(f"Compute {name!r} has {busy} unfinished runs; cancel them or "
                               "wait for them to end.", field="name")
            conn.execute("DELETE FROM computes WHERE name = ?", (name,))
