"""Deployments in verbs: the desired state (a spec per generation) and what the agent observed.

Every change of what a deployment should serve (create, update, rollback, a regenerated key) makes
a new *generation*; the reconciler starts it beside the one serving (`served_generation`) and
swaps when it is healthy. `deployment_history` keeps each generation: what it served and when.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from ..errors import Conflict, NotFound
from . import space
from .base import StoreBase, dumps, even_when_full, loads

STATES = ("Transitioning", "Healthy", "Unhealthy", "Failed", "Deleting")
KEY_NAMES = ("Primary", "Secondary")


@dataclass(frozen=True)
class Deployment:
    """One deployment: its spec (desired), its state and runtime facts (observed)."""

    name: str
    target: str
    state: str
    generation: int
    served_generation: int | None
    failed_generation: int | None
    spec: dict[str, Any]
    port: int
    auth_enabled: bool
    primary_key: str | None
    secondary_key: str | None
    scoring_uri: str | None
    swagger_uri: str | None
    error: str | None
    runtime: dict[str, Any]
    deleting: bool
    created_time: str
    updated_time: str
    history: list[dict] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return list(self.spec.get("models", []))

    @property
    def keys(self) -> tuple[str, str] | None:
        """(primary, secondary) when auth is enabled."""
        if not self.auth_enabled or not self.primary_key or not self.secondary_key:
            return None
        return self.primary_key, self.secondary_key


def new_key() -> str:
    """A scoring key as long as Azure's (32 characters)."""
    return secrets.token_urlsafe(24)


def _history_from_row(row) -> dict:
    spec = loads(row["spec"], {})
    return {"generation": row["generation"], "models": spec.get("models", []),
            "entry_script": (spec.get("inference_config") or {}).get("entry_script"),
            "worker_count": spec.get("worker_count"), "reason": row["reason"],
            "requested_time": row["requested_time"], "served_time": row["served_time"],
            "ended_time": row["ended_time"], "outcome": row["outcome"]}


class DeploymentStore(StoreBase):
    """Verbs on deployments."""

    def _deployment(self, row, history: list[dict]) -> Deployment:
        return Deployment(
            name=row["name"], target=row["target"], state=row["state"],
            generation=row["generation"], served_generation=row["served_generation"],
            failed_generation=row["failed_generation"], spec=loads(row["spec"], {}),
            port=row["port"], auth_enabled=bool(row["auth_enabled"]),
            primary_key=row["primary_key"], secondary_key=row["secondary_key"],
            scoring_uri=row["scoring_uri"], swagger_uri=row["swagger_uri"], error=row["error"],
            runtime=loads(row["runtime"], {}), deleting=bool(row["deleting"]),
            created_time=row["created_time"], updated_time=row["updated_time"], history=history)

    def get_deployment(self, name: str) -> Deployment:
        """The deployment with its history, or NotFound."""
        row = self.conn.execute("SELECT * FROM deployments WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"Deployment {name!r} not found.", field="name")
        hist = self.conn.execute("SELECT * FROM deployment_history WHERE name = ? "
                                 "ORDER BY generation", (name,))
        return self._deployment(row, [_history_from_row(h) for h in hist])

    def list_deployments(self) -> list[Deployment]:
        """Every deployment, by name."""
        names = [r[0] for r in self.conn.execute("SELECT name FROM deployments ORDER BY name")]
        found = []
        for name in names:
            try:
                found.append(self.get_deployment(name))
            except NotFound:  # deleted between the two reads
                pass
        return found

    def create_deployment(self, name: str, target: str, spec: dict, port: int,
                          auth_enabled: bool = False) -> Deployment:
        """Insert a deployment at generation 1 (Transitioning); Conflict if the name is taken."""
        now = self.now()
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM deployments WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"Service {name} with the same name already exists, please use a "
                               f"different service name or delete the existing service.",
                               field="name")
            self._check_port_free(conn, port, name)
            keys = (new_key(), new_key()) if auth_enabled else (None, None)
            conn.execute(
                "INSERT INTO deployments (name, target, state, generation, spec, port, "
                "auth_enabled, primary_key, secondary_key, created_time, updated_time) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (name, target, "Transitioning", 1, dumps(spec), port, int(auth_enabled), *keys,
                 now, now))
            self._add_history(conn, name, 1, spec, "created", now)
        return self.get_deployment(name)

    def _check_port_free(self, conn, port: int, name: str) -> None:
        row = conn.execute("SELECT name FROM deployments WHERE port = ? AND name != ?",
                           (port, name)).fetchone()
        if row is not None:
            raise Conflict(f"Port {port} is already used by deployment {row[0]!r}.", field="port")

    def _add_history(self, conn, name: str, generation: int, spec: dict, reason: str,
                     now: str) -> None:
        conn.execute("INSERT INTO deployment_history (name, generation, spec, reason, "
                     "requested_time) VALUES (?,?,?,?,?)",
                     (name, generation, dumps(spec), reason, now))

    def _live(self, conn, name: str):
        row = conn.execute("SELECT * FROM deployments WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"Deployment {name!r} not found.", field="name")
        if row["deleting"]:
            raise Conflict(f"Deployment {name!r} is being deleted.", field="name")
        return row

    def new_generation(self, name: str, spec: dict, reason: str,
                       auth_enabled: bool | None = None,
                       keys: tuple[str | None, str | None] | None = None) -> Deployment:
        """Record a new desired spec (and auth/keys) as the next generation: Transitioning."""
        now = self.now()
        with self.transaction() as conn:
            row = self._live(conn, name)
            generation = row["generation"] + 1
            auth = bool(row["auth_enabled"]) if auth_enabled is None else auth_enabled
            primary, secondary = keys if keys is not None else (row["primary_key"],
                                                                row["secondary_key"])
            if auth and not (primary and secondary):
                primary, secondary = new_key(), new_key()
            conn.execute("UPDATE deployments SET generation = ?, spec = ?, auth_enabled = ?, "
                         "primary_key = ?, secondary_key = ?, state = 'Transitioning', "
                         "error = NULL, updated_time = ? WHERE name = ?",
                         (generation, dumps(spec), int(auth), primary, secondary, now, name))
            self._add_history(conn, name, generation, spec, reason, now)
        return self.get_deployment(name)

    def previous_served(self, name: str) -> dict | None:
        """The spec served before the current one (what rollback returns to), or None."""
        dep = self.get_deployment(name)
        row = self.conn.execute(
            "SELECT generation, spec FROM deployment_history WHERE name = ? AND served_time IS "
            "NOT NULL AND generation < ? ORDER BY generation DESC LIMIT 1",
            (name, dep.served_generation or 0)).fetchone()
        return None if row is None else {"generation": row[0], "spec": loads(row[1], {})}

    def regenerate_key(self, name: str, which: str) -> Deployment:
        """A new Primary or Secondary key (the other stays) as a new generation."""
        dep = self.get_deployment(name)
        if not dep.auth_enabled:
            raise Conflict(f"Deployment {name!r} does not have auth enabled; it has no keys.",
                           field="key")
        primary, secondary = dep.primary_key, dep.secondary_key
        if which == "Primary":
            primary = new_key()
        else:
            secondary = new_key()
        return self.new_generation(name, dep.spec, f"{which.lower()} key regenerated",
                                   keys=(primary, secondary))

    @even_when_full
    def request_delete(self, name: str) -> Deployment:
        """Mark for deletion; the reconciler stops what runs, then removes the row."""
        now = self.now()
        with self.transaction() as conn:
            if conn.execute("UPDATE deployments SET deleting = 1, state = 'Deleting', "
                            "updated_time = ? WHERE name = ?", (now, name)).rowcount == 0:
                raise NotFound(f"Deployment {name!r} not found.", field="name")
        return self.get_deployment(name)

    @even_when_full
    def remove_deployment(self, name: str) -> None:
        """Drop the row and its history (after its processes and files are gone)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM deployment_history WHERE name = ?", (name,))
            conn.execute("DELETE FROM deployments WHERE name = ?", (name,))
        space.ensure_reserve(self.path.parent)  # its files freed room: hold some back again

    def set_deployment_state(self, name: str, state: str, error: str | None = None) -> None:
        """Record an observed state (and error, cleared when None)."""
        assert state in STATES, state
        with self.transaction() as conn:
            conn.execute("UPDATE deployments SET state = ?, error = ?, updated_time = ? "
                         "WHERE name = ? AND deleting = 0", (state, error, self.now(), name))

    def switch_state(self, name: str, expected: str, state: str, error: str | None,
                     only_if_error: str | None = None) -> bool:
        """Move from `expected` to `state` only if nothing else changed it meanwhile."""
        with self.transaction() as conn:
            sql = ("UPDATE deployments SET state = ?, error = ?, updated_time = ? WHERE name = ? "
                   "AND state = ? AND deleting = 0 AND generation = served_generation")
            args = [state, error, self.now(), name, expected]
            if only_if_error is not None:
                sql += " AND error = ?"
                args.append(only_if_error)
            return conn.execute(sql, args).rowcount == 1

    def set_deployment_runtime(self, name: str, runtime: dict) -> None:
        """Remember pids/containers/ports so a restarted agent can adopt them."""
        with self.transaction() as conn:
            conn.execute("UPDATE deployments SET runtime = ? WHERE name = ?",
                         (dumps(runtime), name))

    def mark_served(self, name: str, generation: int, runtime: dict, scoring_uri: str,
                    swagger_uri: str) -> None:
        """`generation` now takes the traffic: Healthy, history stamped."""
        now = self.now()
        with self.transaction() as conn:
            old = conn.execute("SELECT served_generation FROM deployments WHERE name = ?",
                               (name,)).fetchone()
            if old is None:
                return
            if old[0] is not None and old[0] != generation:
                conn.execute("UPDATE deployment_history SET ended_time = ? WHERE name = ? AND "
                             "generation = ?", (now, name, old[0]))
            conn.execute("UPDATE deployment_history SET served_time = COALESCE(served_time, ?), "
                         "outcome = 'Served' WHERE name = ? AND generation = ?",
                         (now, name, generation))
            row = conn.execute("SELECT generation, failed_generation, error FROM deployments "
                               "WHERE name = ?", (name,)).fetchone()
            if generation == row["generation"]:
                state, error = "Healthy", None
            elif row["failed_generation"] == row["generation"]:  # an update failed; old serves
                state, error = "Failed", row["error"]
            else:
                state, error = "Transitioning", None
            conn.execute("UPDATE deployments SET served_generation = ?, runtime = ?, "
                         "scoring_uri = ?, swagger_uri = ?, state = ?, error = ?, "
                         "updated_time = ? WHERE name = ? AND deleting = 0",
                         (generation, dumps(runtime), scoring_uri, swagger_uri, state, error,
                          now, name))

    def get_generation_spec(self, name: str, generation: int) -> dict:
        """The spec a generation was asked to serve (NotFound if there is no such generation)."""
        row = self.conn.execute("SELECT spec FROM deployment_history WHERE name = ? AND "
                                "generation = ?", (name, generation)).fetchone()
        if row is None:
            raise NotFound(f"Deployment {name!r} has no generation {generation}.", field="name")
        return loads(row[0], {})

    def mark_failed(self, name: str, generation: int, error: str) -> None:
        """`generation` could not start: Failed with the reason (what serves keeps serving)."""
        now = self.now()
        with self.transaction() as conn:
            conn.execute("UPDATE deployment_history SET outcome = 'Failed', ended_time = ? "
                         "WHERE name = ? AND generation = ?", (now, name, generation))
            conn.execute("UPDATE deployments SET failed_generation = ?, state = 'Failed', "
                         "error = ?, updated_time = ? WHERE name = ? AND deleting = 0 AND "
                         "generation = ?", (generation, error, now, name, generation))

    def deployments_using(self, model_id: str) -> list[str]:
        """Names of deployments whose wanted or served generation uses model `name:version`."""
        rows = self.conn.execute(
            "SELECT DISTINCT d.name FROM deployments d JOIN deployment_history h ON "
            "h.name = d.name AND (h.generation = d.generation OR h.generation = "
            "d.served_generation), json_each(h.spec, '$.models') m WHERE m.value = ? "
            "ORDER BY d.name", (model_id,))
        return [r[0] for r in rows]
