"""The store's verbs for registered environments (curated ones live in environments/curated/)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from environments import EnvSpec

from ..errors import NotFound
from .base import StoreBase, dumps, loads


def content_hash(spec: EnvSpec) -> str:
    """Hash of what defines the environment, without name or platform: equal on every machine."""
    text = json.dumps(spec.content(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class EnvironmentVersion:
    """One version of a registered (or curated) environment."""

    name: str
    version: int
    kind: str  # "conda" | "pip"
    content_hash: str
    spec: EnvSpec
    definition: str  # the file's text as registered
    description: str | None
    created_time: str | None
    curated: bool = False

    @property
    def id(self) -> str:
        return f"{self.name}:{self.version}"


def environment_not_found(name: str, version: int | str | None = None) -> NotFound:
    """Azure-like message for a missing environment or version."""
    if version is None:
        return NotFound(f"Environment {name!r} not found.", field="name")
    return NotFound(f"Environment {name!r} has no version {version}.", field="version")


class EnvironmentStore(StoreBase):
    """Verbs on registered environments."""

    @staticmethod
    def _env_from_row(row) -> EnvironmentVersion:
        spec = EnvSpec.from_dict(loads(row["spec"]))
        return EnvironmentVersion(name=row["name"], version=row["version"], kind=row["kind"],
                                  content_hash=row["content_hash"], spec=spec,
                                  definition=row["definition"], description=row["description"],
                                  created_time=row["created_time"])

    def register_environment(self, name: str, spec: EnvSpec, definition: str,
                             description: str | None = None) -> tuple[EnvironmentVersion, bool]:
        """Store a new version unless the latest has the same content; returns (version, created)."""
        digest = content_hash(spec)
        with self.transaction() as conn:
            latest = conn.execute("SELECT * FROM environments WHERE name = ? ORDER BY version DESC "
                                  "LIMIT 1", (name,)).fetchone()
            if latest is not None and latest["content_hash"] == digest:
                return self._env_from_row(latest), False
            conn.execute("INSERT INTO environment_names (name, last_version) VALUES (?, 1) "
                         "ON CONFLICT(name) DO UPDATE SET last_version = last_version + 1",
                         (name,))
            version = conn.execute("SELECT last_version FROM environment_names WHERE name = ?",
                                   (name,)).fetchone()[0]
            conn.execute("INSERT INTO environments (name, version, kind, content_hash, spec, "
                         "definition, description, created_time) VALUES (?,?,?,?,?,?,?,?)",
                         (name, version, spec.kind, digest, dumps(spec.to_dict()), definition,
                          description, self.now()))
        return self.get_environment(name, version), True

    def get_environment(self, name: str, version: int | str = "latest") -> EnvironmentVersion:
        """One version (or the latest), or NotFound."""
        if version == "latest":
            row = self.conn.execute("SELECT * FROM environments WHERE name = ? ORDER BY version "
                                    "DESC LIMIT 1", (name,)).fetchone()
            if row is None:
                raise environment_not_found(name)
        else:
            row = self.conn.execute("SELECT * FROM environments WHERE name = ? AND version = ?",
                                    (name, version)).fetchone()
            if row is None:
                self.get_environment(name)  # an unknown name says so, not "no version"
                raise environment_not_found(name, version)
        return self._env_from_row(row)

    def list_environments(self, name: str | None = None) -> list[EnvironmentVersion]:
        """The latest version of every name (sorted by name), or every version of `name`."""
        if name is not None:
            rows = self.conn.execute("SELECT * FROM environments WHERE name = ? ORDER BY version "
                                     "DESC", (name,)).fetchall()
            if not rows:
                raise environment_not_found(name)
        else:
            rows = self.conn.execute(
                "SELECT e.* FROM environments e JOIN environment_names n ON n.name = e.name AND "
                "n.last_version = e.version ORDER BY e.name").fetchall()
        return [self._env_from_row(r) for r in rows]
