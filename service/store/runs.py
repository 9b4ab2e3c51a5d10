"""Experiments, runs and their metrics, in verbs."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import Conflict, NotFound
from .base import StoreBase, dumps, even_when_full, loads

ACTIVE = ("Preparing", "Running", "Finalizing")
TERMINAL = ("Completed", "Failed", "Canceled")
PENDING = ("NotStarted", "Queued")
CANCEL_REASON = "cancel_reason"  # property saying why amlocal canceled a run (e.g. a sweep policy)
CHILD_KIND = "child"  # a run a script created with child_run(): no process, ended by its creator


@dataclass(frozen=True)
class Run:
    """One tracked run."""

    id: str
    experiment: str
    status: str
    script: str
    arguments: list[str]
    environment: Any
    tags: dict[str, Any]
    properties: dict[str, Any]
    snapshot_sha256: str
    timeout_s: float | None
    created_time: str
    start_time: str | None
    end_time: str | None
    status_times: dict[str, str]
    error: dict | None
    pid: int | None
    cancel_requested: bool
    parent_id: str | None = None
    kind: str = "script"
    compute: str = "local"  # the compute target it executes on (issue 17)
    requested_status: dict | None = None  # {"status", "error"} the script asked for over HTTP

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


def _run_from_row(row) -> Run:
    return Run(id=row["id"], experiment=row["experiment"], status=row["status"],
               script=row["script"], arguments=loads(row["arguments"], []),
               environment=loads(row["environment"]), tags=loads(row["tags"], {}),
               properties=loads(row["properties"], {}), snapshot_sha256=row["snapshot_sha256"],
               timeout_s=row["timeout_s"], created_time=row["created_time"],
               start_time=row["start_time"], end_time=row["end_time"],
               status_times=loads(row["status_times"], {}), error=loads(row["error"]),
               pid=row["pid"], cancel_requested=bool(row["cancel_requested"]),
               parent_id=row["parent_id"], kind=row["kind"], compute=row["compute"],
               requested_status=loads(row["requested_status"]))


def new_run_id(experiment: str) -> str:
    """Azure ML's script-run id: <experiment>_<unix seconds>_<8 hex>."""
    return f"{experiment}_{int(time.time())}_{uuid.uuid4().hex[:8]}"


class RunStore(StoreBase):
    """Verbs on experiments, runs and metrics."""

    def create_run(self, experiment: str, script: str, arguments: list[str], snapshot_sha256: str,
                   *, environment: Any = None, tags: dict | None = None,
                   timeout_s: float | None = None, parent_id: str | None = None,
                   kind: str = "script", run_id: str | None = None, queued: bool = True,
                   properties: dict | None = None, compute: str = "local") -> Run:
        """Create a run (NotStarted, then Queued unless told otherwise) in one transaction."""
        now = self.now()
        run_id = run_id or new_run_id(experiment)
        times = {"NotStarted": now}
        if queued:
            times["Queued"] = now
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO experiments (name, created_time) VALUES (?, ?)",
                         (experiment, now))
            conn.execute(
                "INSERT INTO runs (id, experiment, parent_id, kind, status, script, arguments, "
                "environment, tags, properties, snapshot_sha256, timeout_s, status_times, "
                "created_time, compute) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, experiment, parent_id, kind, "Queued" if queued else "NotStarted", script,
                 dumps(arguments), None if environment is None else dumps(environment),
                 dumps(tags or {}), dumps(properties or {}), snapshot_sha256, timeout_s,
                 dumps(times), now, compute))
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        """The run, or NotFound."""
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"Run {run_id!r} not found.", field="run_id")
        return _run_from_row(row)

    def list_runs(self, experiment: str | None = None, status: str | None = None,
                  tags: Iterable[tuple[str, str | None]] = (), parent_id: str | None = None,
                  top_level: bool = False, limit: int = 1000) -> list[Run]:
        """Runs, newest first, filtered by experiment, status, tags (key or key=value), parent,
        or to the runs without a parent."""
        where, args = [], []
        if top_level:
            where.append("parent_id IS NULL")
        if experiment is not None:
            where.append("experiment = ?"); args.append(experiment)
        if status is not None:
            where.append("status = ?"); args.append(status)
        if parent_id is not None:
            where.append("parent_id = ?"); args.append(parent_id)
        for key, value in tags:
            if value is None:
                where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE key = ?)")
                args.append(key)
            else:
                where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE key = ? "
                             "AND CAST(value AS TEXT) = ?)")
                args += [key, value]
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY seq DESC LIMIT ?"
        return [_run_from_row(r) for r in self.conn.execute(sql, (*args, limit))]

    def list_experiments(self) -> list[dict]:
        """Every experiment with its run count and latest run time."""
        rows = self.conn.execute(
            "SELECT e.name, e.created_time, COUNT(r.id) AS run_count, MAX(r.created_time) AS "
            "last_run_time FROM experiments e LEFT JOIN runs r ON r.experiment = e.name "
            "GROUP BY e.name ORDER BY e.name")
        return [dict(r) for r in rows]

    def get_experiment(self, name: str) -> dict:
        """One experiment, or NotFound."""
        for exp in self.list_experiments():
            if exp["name"] == name:
                return exp
        raise NotFound(f"Experiment {name!r} not found.", field="experiment")

    def claim_next_run(self, kinds: tuple[str, ...] = ("script",),
                       compute: str = "local") -> Run | None:
        """Atomically move the oldest Queued run on `compute` to Preparing and return it."""
        marks = ",".join("?" * len(kinds))
        with self.transaction() as conn:
            row = conn.execute(f"SELECT id, status_times FROM runs WHERE status = 'Queued' AND "
                               f"kind IN ({marks}) AND compute = ? ORDER BY seq LIMIT 1",
                               (*kinds, compute)).fetchone()
            if row is None:
                return None
            self._set_state(conn, row["id"], "Preparing", loads(row["status_times"], {}))
        return self.get_run(row["id"])

    @staticmethod
    def _state_row(conn, run_id: str):
        row = conn.execute("SELECT status, status_times, properties FROM runs WHERE id = ?",
                           (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"Run {run_id!r} not found.", field="run_id")
        return row

    def _set_state(self, conn, run_id: str, state: str, times: dict) -> None:
        now = self.now()
        times[state] = now
        extra = ""
        if state == "Running":
            extra = ", start_time = COALESCE(start_time, :now)"
        elif state in TERMINAL:
            extra = ", end_time = :now"
        conn.execute(f"UPDATE runs SET status = :state, status_times = :times{extra} "
                     "WHERE id = :id", {"state": state, "times": dumps(times), "now": now,
                                        "id": run_id})

    @even_when_full
    def set_run_state(self, run_id: str, state: str) -> None:
        """Record a non-terminal state change (Preparing, Running, Finalizing) with its time."""
        with self.transaction() as conn:
            row = self._state_row(conn, run_id)
            if row["status"] not in TERMINAL:
                self._set_state(conn, run_id, state, loads(row["status_times"], {}))

    def set_run_pid(self, run_id: str, pid: int | None) -> None:
        """Remember the process group of a running script (to clean up after a crash)."""
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (pid, run_id))

    @even_when_full
    def finish_run(self, run_id: str, status: str, error: dict | None = None) -> Run:
        """Record a terminal state and its error, once; a recorded cancel reason is the message."""
        assert status in TERMINAL, status
        with self.transaction() as conn:
            row = self._state_row(conn, run_id)
            reason = loads(row["properties"], {}).get(CANCEL_REASON)
            if status == "Canceled" and reason:
                error = {**(error or {}), "message": reason}
            if row["status"] not in TERMINAL:
                self._set_state(conn, run_id, status, loads(row["status_times"], {}))
                conn.execute("UPDATE runs SET error = ?, pid = NULL WHERE id = ?",
                             (None if error is None else dumps(error), run_id))
                conn.execute("UPDATE run_tokens SET revoked_time = ? WHERE run_id = ? AND "
                             "revoked_time IS NULL", (self.now(), run_id))
                self._end_open_children(conn, run_id, status)
        return self.get_run(run_id)

    def _end_open_children(self, conn, run_id: str, status: str) -> None:
        """Child runs a script created and left open end with their parent, in its state."""
        rows = conn.execute(
            "WITH RECURSIVE tree(id) AS (SELECT id FROM runs WHERE parent_id = :id AND kind = "
            ":kind UNION ALL SELECT r.id FROM runs r JOIN tree t ON r.parent_id = t.id WHERE "
            "r.kind = :kind) SELECT runs.id, runs.status, runs.status_times FROM runs JOIN tree "
            "ON runs.id = tree.id", {"id": run_id, "kind": CHILD_KIND}).fetchall()
        error = None if status == "Completed" else dumps(
            {"message": f"The parent run {run_id} ended ({status}) before this child run did."})
        for row in rows:
            if row["status"] not in TERMINAL:
                self._set_state(conn, row["id"], status, loads(row["status_times"], {}))
                conn.execute("UPDATE runs SET error = ? WHERE id = ?", (error, row["id"]))

    def is_in_run_tree(self, run_id: str, root_id: str) -> bool:
        """Whether `run_id` is `root_id` or one of its descendants (children, their children)."""
        row = self.conn.execute(
            "WITH RECURSIVE up(id, parent_id, depth) AS (SELECT id, parent_id, 0 FROM runs WHERE "
            "id = ? UNION ALL SELECT r.id, r.parent_id, up.depth + 1 FROM runs r JOIN up ON "
            "r.id = up.parent_id WHERE up.depth < 1000) SELECT 1 FROM up WHERE id = ?",
            (run_id, root_id)).fetchone()
        return row is not None

    def add_run_properties(self, run_id: str, properties: dict[str, str]) -> Run:
        """Add properties (Azure: add-only); a key already set to another value is a 409."""
        with self.transaction() as conn:
            row = self._state_row(conn, run_id)
            current = loads(row["properties"], {})
            for key, value in properties.items():
                if key in current and current[key] != value:
                    raise Conflict(f"Property {key!r} of run {run_id!r} is already "
                                   f"{current[key]!r}; properties cannot be changed.",
                                   field=f"add.{key}")
            conn.execute("UPDATE runs SET properties = ? WHERE id = ?",
                         (dumps({**current, **properties}), run_id))
        return self.get_run(run_id)

    def request_cancel(self, run_id: str) -> Run:
        """Cancel a run: a pending one at once, an active one by flagging it for the agent."""
        run = self.get_run(run_id)
        if run.is_terminal:
            raise Conflict(f"Run {run_id!r} is already {run.status}; it cannot be canceled.",
                           field="run_id")
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))
        if run.status in PENDING:
            return self.finish_run(run_id, "Canceled", {"message": "Canceled before it started."})
        return self.get_run(run_id)

    def request_status(self, run_id: str, status: str, error: dict | None = None) -> Run:
        """Keep the final status a running script asked for; its process's end applies it."""
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET requested_status = ? WHERE id = ?",
                         (dumps({"status": status, "error": error}), run_id))
        return self.get_run(run_id)

    def is_cancel_requested(self, run_id: str) -> bool:
        row = self.conn.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    def record_events(self, run_id: str, events: list[dict]) -> None:
        """Store what the run context reported: metrics, tags, properties (one transaction)."""
        with self.transaction() as conn:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM metrics WHERE run_id = ?",
                               (run_id,)).fetchone()[0]
            row = conn.execute("SELECT tags, properties FROM runs WHERE id = ?", (run_id,)).fetchone()
            tags, props = loads(row["tags"], {}), loads(row["properties"], {})
            for event in events:
                kind = event.get("type")
                if kind == "metric":
                    seq += 1
                    conn.execute("INSERT INTO metrics (run_id, seq, name, kind, value, step, "
                                 "logged_time) VALUES (?,?,?,?,?,?,?)",
                                 (run_id, seq, event["name"], event.get("kind", "scalar"),
                                  dumps(event.get("value")), event.get("step"),
                                  event.get("ts") or self.now()))
                elif kind == "tags":
                    tags.update(event.get("tags") or {})
                    for key in event.get("removed") or ():
                        tags.pop(key, None)
                elif kind == "properties":
                    for key, value in (event.get("properties") or {}).items():
                        props.setdefault(key, value)
            conn.execute("UPDATE runs SET tags = ?, properties = ? WHERE id = ?",
                         (dumps(tags), dumps(props), run_id))

    def get_metric_events(self, run_id: str, names: Iterable[str] | None = None) -> list[dict]:
        """Logged metric events of a run, in log order."""
        self.get_run(run_id)
        rows = self.conn.execute("SELECT name, kind, value, step, logged_time FROM metrics "
                                 "WHERE run_id = ? ORDER BY seq", (run_id,))
        wanted = set(names) if names is not None else None
        return [{"type": "metric", "name": r["name"], "kind": r["kind"], "value": loads(r["value"]),
                 "step": r["step"], "ts": r["logged_time"]}
                for r in rows if wanted is None or r["name"] in wanted]

    def update_run_tags(self, run_id: str, add: dict | None = None,
                        remove: Iterable[str] = ()) -> Run:
        """Merge tags in and remove some (Azure's set_tags / remove_tags)."""
        self.record_events(run_id, [{"type": "tags", "tags": add or {}, "removed": list(remove)}])
        return self.get_run(run_id)

    @even_when_full
    def fail_interrupted_runs(self, message: str, kinds: tuple[str, ...] = ("script",)) -> list[Run]:
        """Script runs an agent left active become Failed with `message`; returns them (with pids).

        Sweep parents are not processes: their controller resumes them from their rows."""
        stale = [r for r in self.list_runs(limit=100000) if r.status in ACTIVE and r.kind in kinds]
        for run in stale:
            self.finish_run(run.id, "Failed", {"message": message, "exit_code": None,
                                               "stderr_tail": ""})
        return stale
