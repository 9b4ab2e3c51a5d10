"""Registered model versions: staged files, atomic version allocation, lineage, tags, properties.

A version exists when its row exists. Files are copied into `tmp/model-*` first, then moved into
`models/<name>/<version>/` inside the transaction that inserts the row: a crash before COMMIT
leaves at most a folder without a row, which is ignored, replaced when that number is allocated
again, and removed by `clean_stray_model_dirs`. A stage is held (an flock) while it is in use, so
one left by a registration that died is reclaimed when a process of the workspace starts.

A version never changes: its files and folders are read-only (0444/0555) and deployments get
copies of them (service/targets/layout.py), never links.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable

from ..errors import Conflict, NotFound
from . import space
from .workspace import Workspace
from .base import StoreBase, dumps, even_when_full, loads

CHUNK = 1024 * 1024
STAGE_PREFIX = "model-"
READ_ONLY_FILE, READ_ONLY_DIR = 0o444, 0o555


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    id: str  # "name:version"
    framework: str | None
    framework_version: str | None
    resource_configuration: dict | None  # {cpu, memory_in_gb, gpu}
    files: list[dict]  # [{path, size, sha256}], paths relative to dir
    dir: Path  # ws.model_dir(name, version)
    run_id: str | None
    tags: dict
    properties: dict
    description: str | None
    created_time: str
    environment: dict | None
    estimator: dict | None
    sample_input: list | None
    experiment: str | None = None
    run_path: str | None = None

    @property
    def is_single_file(self) -> bool:
        """One file at the top of the model folder (downloaded as itself, not as a zip)."""
        return len(self.files) == 1 and "/" not in self.files[0]["path"]


@dataclass
class StagedModel:
    """Files copied and hashed into a private folder under tmp/, not yet a version."""

    dir: Path
    files: list[dict] = field(default_factory=list)
    hold: int | None = None  # the fd whose flock marks the stage as in use

    def release(self) -> None:
        """Stop holding the stage (it is a version now, or discarded)."""
        if self.hold is not None:
            os.close(self.hold)
            self.hold = None

    @property
    def size(self) -> int:
        return sum(f["size"] for f in self.files)


def model_not_found(name: str, version: int | str | None = None) -> NotFound:
    """Azure ML's ModelNotFound message."""
    what = f"name {name}" + (f", version {version}" if version is not None else "")
    return NotFound(f"ModelNotFound: Model with {what} not found in provided workspace",
                    field="version" if version is not None else "name")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ModelStore(StoreBase):
    """Verbs on model versions."""

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.path.parent)  # the database sits at the workspace's root

    def _from_row(self, row) -> ModelVersion:
        name, version = row["name"], row["version"]
        return ModelVersion(
            name=name, version=version, id=f"{name}:{version}", framework=row["framework"],
            framework_version=row["framework_version"],
            resource_configuration=loads(row["resource_configuration"]),
            files=loads(row["files"], []), dir=self.workspace.model_dir(name, version),
            run_id=row["run_id"], tags=loads(row["tags"], {}),
            properties=loads(row["properties"], {}), description=row["description"],
            created_time=row["created_time"], environment=loads(row["environment"]),
            estimator=loads(row["estimator"]), sample_input=loads(row["sample_input"]),
            experiment=row["experiment"], run_path=row["run_path"])

    # -- staging ---------------------------------------------------------------------------

    def new_stage(self) -> StagedModel:
        """An empty private folder under tmp/ to copy a model's files into, held while in use."""
        self.workspace.tmp_dir.mkdir(parents=True, exist_ok=True)
        stage, hold = space.new_staging(self.workspace.tmp_dir, STAGE_PREFIX, folder=True)
        return StagedModel(stage, hold=hold)

    @staticmethod
    def stage_file(staged: StagedModel, rel_path: str, source: IO[bytes]) -> dict:
        """Copy `source` to `rel_path` in the stage while hashing, read-only; fsync so a rename
        is durable. A full disk is InsufficientStorage (507)."""
        target = staged.dir / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        with open(target, "xb") as out:
            try:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            except OSError as err:
                if space.is_full(err):
                    raise space.full_error(f"model file {rel_path!r}") from err
                raise
            os.fchmod(out.fileno(), READ_ONLY_FILE)
        record = {"path": rel_path, "size": size, "sha256": digest.hexdigest()}
        staged.files.append(record)
        return record

    @staticmethod
    def discard_stage(staged: StagedModel) -> None:
        """Remove a stage that did not become a version (no-op once it was moved in)."""
        shutil.rmtree(staged.dir, ignore_errors=True)
        staged.release()

    # -- writing ---------------------------------------------------------------------------

    def register_model_version(self, name: str, staged: StagedModel, *,
                               framework: str | None = None,
                               framework_version: str | None = None,
                               resource_configuration: dict | None = None,
                               run_id: str | None = None, experiment: str | None = None,
                               run_path: str | None = None, tags: dict | None = None,
                               properties: dict | None = None, description: str | None = None,
                               environment: dict | None = None, estimator: dict | None = None,
                               sample_input: list | None = None) -> ModelVersion:
        """Allocate the next version of `name` and move the staged files in, in one transaction."""
        for sub in sorted({staged.dir, *(p for p in staged.dir.rglob("*") if p.is_dir())},
                          reverse=True):
            _fsync_dir(sub)
        files = sorted(staged.files, key=lambda f: f["path"])
        moved: Path | None = None
        try:
            with self.transaction() as conn:
                row = conn.execute("SELECT last_version FROM model_names WHERE name = ?",
                                   (name,)).fetchone()
                version = (row[0] if row else 0) + 1
                conn.execute("INSERT INTO model_names (name, last_version) VALUES (?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version",
                             (name, version))
                conn.execute(
                    "INSERT INTO models (name, version, framework, framework_version, "
                    "resource_configuration, files, run_id, experiment, run_path, tags, "
                    "properties, description, created_time, environment, estimator, sample_input)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (name, version, framework, framework_version,
                     _json_or_null(resource_configuration), dumps(files), run_id, experiment,
                     run_path, dumps(tags or {}), dumps(properties or {}), description,
                     self.now(), _json_or_null(environment), _json_or_null(estimator),
                     _json_or_null(sample_input)))
                target = self.workspace.model_dir(name, version)
                # A folder here has no row: a crash between rename and COMMIT left it. We hold
                # the write lock, so nobody else is about to commit it.
                space.remove_writable(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged.dir, target)
                moved = target
                _fsync_dir(target.parent)
                _make_read_only(target)
        except BaseException:
            if moved is not None:
                space.remove_writable(moved)
            raise
        finally:
            staged.release()
        return self.get_model_version(name, version)

    def update_model_tags(self, name: str, version: int | str, add: dict | None = None,
                          remove: Iterable[str] = ()) -> ModelVersion:
        """Merge tags in and remove some (Azure's add_tags / remove_tags)."""
        with self.transaction() as conn:
            model = self.get_model_version(name, version)
            tags = {**model.tags, **(add or {})}
            for key in remove:
                tags.pop(key, None)
            conn.execute("UPDATE models SET tags = ? WHERE name = ? AND version = ?",
                         (dumps(tags), name, model.version))
        return self.get_model_version(name, model.version)

    def add_model_properties(self, name: str, version: int | str,
                             properties: dict) -> ModelVersion:
        """Add properties; an existing key is never changed (409, Azure's message)."""
        with self.transaction() as conn:
            model = self.get_model_version(name, version)
            taken = sorted(k for k in properties if k in model.properties)
            if taken:
                raise Conflict("Error, properties are immutable, the following keys cannot be "
                               f"added/modified: {','.join(taken)}", field="properties",
                               keys=taken)
            conn.execute("UPDATE models SET properties = ? WHERE name = ? AND version = ?",
                         (dumps({**model.properties, **properties}), name, model.version))
        return self.get_model_version(name, model.version)

    @even_when_full
    def delete_model_version(self, name: str, version: int | str) -> ModelVersion:
        """Remove the row, then the files; refused (409) while a deployment uses the version.
        Works on a full disk (the workspace's space reserve pays for the row's removal)."""
        with self.transaction() as conn:
            model = self.get_model_version(name, version)
            users = self.deployments_using(model.id)  # type: ignore[attr-defined]
            if users:
                raise Conflict(f"The model {model.id} cannot be deleted because it is currently "
                               f"being used by deployments: {', '.join(users)}.",
                               field="version", deployments=list(users))
            conn.execute("DELETE FROM models WHERE name = ? AND version = ?",
                         (name, model.version))
        self._remove_dir(model.dir)
        space.ensure_reserve(self.path.parent)  # room was freed: hold some back again
        return model

    def _remove_dir(self, path: Path) -> None:
        # Renamed aside first so a crash mid-removal never leaves half a folder at the model path
        # (made writable first: moving a folder to another parent rewrites its "..").
        aside = self.workspace.tmp_dir / f"{STAGE_PREFIX}deleted-{uuid.uuid4().hex}"
        try:
            os.chmod(path, 0o700)
            os.replace(path, aside)
        except FileNotFoundError:
            return
        space.remove_writable(aside)

    def clean_stray_model_dirs(self) -> list[Path]:
        """Remove version folders without a row, and stages (and uploads) nobody holds under
        tmp/: what registrations that died left behind. Returns what was removed."""
        removed: list[Path] = []
        models_root = self.workspace.root / "models"
        with self.transaction() as conn:  # the write lock: no registration is mid-rename now
            known = {(r[0], str(r[1])) for r in conn.execute("SELECT name, version FROM models")}
            for folder in sorted(models_root.glob("*/*")):
                if folder.is_dir() and (folder.parent.name, folder.name) not in known:
                    self._remove_dir(folder)
                    removed.append(folder)
        return removed + space.clean_stale_staging(self.workspace.tmp_dir)

    # -- reading ---------------------------------------------------------------------------

    def get_model_version(self, name: str, version: int | str = "latest") -> ModelVersion:
        """The version (an int or "latest"), or NotFound with Azure's message."""
        if version == "latest":
            row = self.conn.execute("SELECT * FROM models WHERE name = ? ORDER BY version DESC "
                                    "LIMIT 1", (name,)).fetchone()
        else:
            try:
                number = int(version)
            except (TypeError, ValueError) as err:
                raise model_not_found(name, version) from err
            row = self.conn.execute("SELECT * FROM models WHERE name = ? AND version = ?",
                                    (name, number)).fetchone()
        if row is None:
            raise model_not_found(name, None if version == "latest" else version)
        return self._from_row(row)

    def list_model_versions(self, name: str | None = None, *,
                            tags: Iterable[tuple[str, str | None]] = (),
                            properties: Iterable[tuple[str, str | None]] = (),
                            framework: str | None = None, run_id: str | None = None,
                            latest: bool = False, limit: int = 1000) -> list[ModelVersion]:
        """Versions by name, then newest first; filters AND-combined; `latest` keeps one a name."""
        where, args = [], []
        for column, value in (("name", name), ("framework", framework), ("run_id", run_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        for column, pairs in (("tags", tags), ("properties", properties)):
            for key, value in pairs:
                test = "" if value is None else " AND CAST(value AS TEXT) = ?"
                where.append(f"EXISTS (SELECT 1 FROM json_each(models.{column}) WHERE key = ?"
                             f"{test})")
                args += [key] if value is None else [key, value]
        sql = "SELECT * FROM models" + (" WHERE " + " AND ".join(where) if where else "")
        found, seen = [], set()
        for row in self.conn.execute(sql + " ORDER BY name, version DESC", args):
            if latest and row["name"] in seen:
                continue
            seen.add(row["name"])
            found.append(self._from_row(row))
            if len(found) >= limit:
                break
        return found


def _make_read_only(version_dir: Path) -> None:
    """A registered version's folders: no file can be added, removed or renamed in them."""
    for folder, dirs, _ in os.walk(version_dir, topdown=False):
        for name in dirs:
            os.chmod(os.path.join(folder, name), READ_ONLY_DIR)
    os.chmod(version_dir, READ_ONLY_DIR)


def _json_or_null(value) -> str | None:
    return None if value is None else dumps(value)
