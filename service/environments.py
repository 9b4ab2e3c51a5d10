"""Environments for runs and deployments: look up at submit, build in Preparing, build state.

A run's `environment` is resolved when it is submitted (a 400 names `config.environment`) into
`{name, version, hash, spec}`; the agent's preparer materialises that spec during Preparing,
streaming the build into the run's `user_logs/std_log.txt`. Build state is read from the
workspace's `envs/` folder (a built marker, a live build's temporary log, a kept failure log), so
every process — API workers, the agent — sees the same answer without a table to keep in sync.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

import scoring
from environments import (BuiltEnv, EnvBuildError, EnvSpec, EnvSpecError, find_built,
                          list_curated, materialise, parse_conda_yaml, parse_pip_requirements,
                          sklearn_scoring_spec)
from environments.image_files import REQUIREMENTS as REQUIREMENTS_FILE, image_file
from environments.spec import requirement_name
from training.executor import STD_LOG, RunPreparationError

from .errors import BadRequest, NotFound
from .store import parse_version
from .store.environments import EnvironmentVersion, content_hash, environment_not_found

log = logging.getLogger("amlocal.environments")
KINDS = {"conda_spec": "conda", "pip_requirements": "pip"}
DEFINITIONS = tuple(KINDS)  # the two ways to write an environment's definition
CURATED_VERSION = 1
STATES = ("NotBuilt", "Building", "Succeeded", "Failed")
_REQUESTED = ".requested-"  # envs/<hash>.requested-<pid>: a build asked for through the API


def parse_definition(text: str, key: str, field: str | None = None) -> EnvSpec:
    """Parse a conda YAML (`conda_spec`) or pip requirements text, or raise a 400 with its line."""
    field = field or key
    parse = parse_conda_yaml if KINDS[key] == "conda" else parse_pip_requirements
    try:
        return parse(text, source=key, check=True)
    except EnvSpecError as err:
        where = f" (line {err.line})" if err.line else ""
        raise BadRequest(f"Invalid {field}{where}: {err.reason}", field=field, line=err.line,
                         reason=err.reason) from err


def register_environment(store, fields: dict) -> tuple[EnvironmentVersion, bool]:
    """A validated {name, conda_spec | pip_requirements, description} as a version; the latest
    version when its content is the same (created False)."""
    key = next(k for k in DEFINITIONS if k in fields)
    spec = dataclasses.replace(parse_definition(fields[key], key), name=fields["name"])
    return store.register_environment(fields["name"], spec, fields[key], fields["description"])


@functools.lru_cache(maxsize=1)
def curated_environments() -> dict[str, EnvironmentVersion]:
    """The curated environments shipped in environments/curated/, as version 1 of each name."""
    found = {}
    for name, spec in list_curated().items():
        try:
            definition = Path(spec.source or "").read_text(encoding="utf-8")
        except OSError:
            definition = spec.to_conda_yaml()
        found[name] = EnvironmentVersion(name=name, version=CURATED_VERSION, kind=spec.kind,
                                         content_hash=content_hash(spec), spec=spec,
                                         definition=definition, description="Curated by amlocal",
                                         created_time=None, curated=True)
    return found


def find_environment(store, name: str, version: int | str = "latest") -> EnvironmentVersion:
    """A curated or registered environment's version, or NotFound."""
    curated = curated_environments().get(name)
    if curated is not None:
        if version not in ("latest", CURATED_VERSION):
            raise environment_not_found(name, version)
        return curated
    return store.get_environment(name, version)


# -- build state ------------------------------------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live(paths: list[Path], prefix: str) -> Path | None:
    """The first path whose name ends in `<prefix><pid>[.log]` with that pid still running."""
    for path in paths:
        tail = path.name.split(prefix, 1)[-1].removesuffix(".log")
        if tail.isdigit() and _alive(int(tail)):
            return path
    return None


def build_state(ws, spec: EnvSpec) -> tuple[str, Path | None]:
    """(NotBuilt|Building|Succeeded|Failed, the log that explains it or None)."""
    root, digest = ws.envs_dir, spec.hash
    built = find_built(spec, root)
    if built is not None:
        return "Succeeded", built.build_log
    building = _live(sorted(root.glob(f"{digest}.tmp-*.log")), ".tmp-")
    if building is not None:
        return "Building", building
    if _live(sorted(root.glob(f"{digest}{_REQUESTED}*")), _REQUESTED) is not None:
        return "Building", None  # asked for, not yet started (the machine check runs first)
    failed = root / f"{digest}.failed.log"
    if failed.exists():
        return "Failed", failed
    return "NotBuilt", None


def start_build(ws, spec: EnvSpec) -> str:
    """Build `spec` in a background thread of this process unless built or building; its state.

    The file lock inside materialise() makes a concurrent build elsewhere (a run's) wait for this
    one, or this one reuse it; a process that dies mid-build leaves remains the next build clears.
    """
    state, _ = build_state(ws, spec)
    if state in ("Succeeded", "Building"):
        return state
    marker = ws.envs_dir / f"{spec.hash}{_REQUESTED}{os.getpid()}"
    marker.touch()
    threading.Thread(target=_build, args=(ws, spec, marker), name=f"env-build-{spec.hash}",
                     daemon=True).start()
    return "Building"


def _build(ws, spec: EnvSpec, marker: Path) -> None:
    try:
        built = materialise(spec, ws.envs_dir)
        log.info("environment %s built in %.1f s", built.hash, built.seconds)
    except EnvBuildError as err:
        log.warning("environment %s failed to build; log kept in %s", spec.hash, err.log_path)
    except EnvSpecError as err:  # no interpreter for it: fails before the installer's log exists
        (ws.envs_dir / f"{spec.hash}.failed.log").write_text(f"# amlocal: {err}\n",
                                                             encoding="utf-8")
    except Exception:  # a background thread has no caller to raise to
        log.exception("environment %s: build crashed", spec.hash)
    finally:
        marker.unlink(missing_ok=True)


# -- runs -------------------------------------------------------------------------------------

def resolve_environment(store, value: Any, field: str = "config.environment") -> dict:
    """`"name"`, `"name:version"`, `{name, version?}` or `{conda_spec|pip_requirements}` → what
    the run records: {name, version, hash, spec}."""
    if isinstance(value, str):
        name, sep, version = value.rpartition(":")
        value = {"name": name, "version": version} if sep else {"name": value}
    if not isinstance(value, dict):
        raise BadRequest("An environment is 'NAME', 'NAME:VERSION' or an object {conda_spec} or "
                         "{pip_requirements}.", field=field)
    unknown = sorted(set(value) - {"name", "version", *KINDS})
    given = [k for k in KINDS if k in value]
    if unknown or len(given) + ("name" in value) != 1:
        raise BadRequest("An environment object has either 'name' (and 'version') or exactly one "
                         f"of {sorted(KINDS)}" + (f"; unknown keys {unknown}" if unknown else "")
                         + ".", field=field)
    if given:
        text = value[given[0]]
        if not isinstance(text, str):
            raise BadRequest(f"'{given[0]}' must be the file's text.", field=f"{field}.{given[0]}")
        spec = parse_definition(text, given[0], f"{field}.{given[0]}")
        return {"name": None, "version": None, "hash": spec.hash, "spec": spec.to_dict()}
    name, version = str(value["name"]), parse_version(str(value.get("version") or "latest"), field,
                                                        "environment version")
    try:
        env = find_environment(store, name, version)
    except NotFound as err:
        raise BadRequest(f"Unknown environment for the run: {err.message}", field=field) from err
    return {"name": env.name, "version": env.version, "hash": env.spec.hash,
            "spec": env.spec.to_dict()}


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def _installer_lines(err: EnvBuildError, keep: int = 12) -> str:
    """The failing installer command's own words from the build's log tail (what it printed
    after its `$ command` line, without amlocal's notes and uv's "Using ..." chatter)."""
    lines = err.log_tail.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
    said = [line for line in lines[starts[-1] + 1 if starts else 0:] if line.strip()
            and not line.startswith(("# amlocal", "Using "))]
    return "\n".join(said[-keep:]) or str(err)


def process_environ(built: BuiltEnv) -> dict[str, str]:
    """Only what the environment changes in this process's variables (RunSpec.env adds them)."""
    full = built.environ()
    extra = {key: value for key, value in full.items() if os.environ.get(key) != value}
    if "PYTHONHOME" in os.environ:
        extra["PYTHONHOME"] = ""  # the executor drops empty values: unset in the script
    return extra


def prepare_run(store, ws, run, run_dir: Path) -> dict:
    """Materialise a run's environment (log into its std_log.txt); RunSpec overrides for it
    (none for a run without an environment)."""
    recorded = run.environment
    if not recorded:
        return {}
    spec = EnvSpec.from_dict(recorded["spec"])
    label = (f"{recorded['name']}:{recorded['version']}" if recorded.get("name")
             else "inline environment")
    log_path = Path(run_dir) / STD_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    _append(log_path, f"# amlocal: preparing {label} ({spec.hash})\n")
    try:
        built = materialise(spec, ws.envs_dir, log_path=log_path)
    except EnvBuildError as err:
        raise RunPreparationError(f"Building {label} failed:\n{_installer_lines(err)}") from err
    except EnvSpecError as err:
        _append(log_path, f"# amlocal: {err}\n")
        raise RunPreparationError(f"{label} cannot be built on this machine: {err}") from err
    if built.reused:
        _append(log_path, f"# amlocal: {label} is already built ({built.hash}); reused in "
                          f"{built.seconds * 1000:.1f} ms\n")
    store.record_events(run.id, [{"type": "properties", "properties": {
        "amlocal.python": str(built.python), "amlocal.environment": label,
        "amlocal.environment_hash": built.hash}}])
    return {"python": str(built.python), "env": process_environ(built)}


# -- deployments ------------------------------------------------------------------------------
# Which Python a generation's scoring server runs in: the service's own, or a built environment.
#
# A no-code deployment needs the scikit-learn its model was trained with (unpickling across versions
# fails or warns), so when the registry recorded a different version than the service's own, the
# curated scoring spec is pinned to it and built once. A custom deployment with
# `inference_config.environment` gets that environment. Either way the scoring server's own
# requirements are added where the spec does not name them (Azure adds its inference stack too).

def sklearn_version_of(model_version) -> str | None:
    """The scikit-learn version the registry recorded for a model (its run's env), if any."""
    packages = (getattr(model_version, "environment", None) or {}).get("packages") or {}
    if packages.get("scikit-learn"):
        return str(packages["scikit-learn"])
    if getattr(model_version, "framework", None) == "ScikitLearn":
        return getattr(model_version, "framework_version", None) or None
    return None


SCORING_ROOT = Path(scoring.__file__).resolve().parent.parent  # holds the scoring package
REQUIREMENTS = image_file(REQUIREMENTS_FILE)  # docker/'s list, or the wheel's copy


class ScoringEnvironmentError(RuntimeError):
    """A deployment's environment cannot be chosen or built (shown in its state)."""


@dataclass(frozen=True)
class ScoringEnvironment:
    """What a generation runs with: `spec` None means the service's own interpreter."""

    spec: EnvSpec | None
    reason: str

    def requirements(self) -> list[str]:
        """The pip list for an image's install step (the plain scoring list when no spec)."""
        return self.spec.pip_requirements() if self.spec else scoring_requirements()


def scoring_requirements() -> list[str]:
    """The scoring server's own requirements (one list: docker/scoring-requirements.txt)."""
    return [line.strip() for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def with_scoring_requirements(spec: EnvSpec) -> EnvSpec:
    """Add the scoring server's requirements that `spec` does not already name."""
    named = {requirement_name(r) for r in spec.pip_requirements()}
    missing = [r for r in scoring_requirements() if requirement_name(r) not in named]
    extra = parse_pip_requirements("\n".join(missing), check=False).pip if missing else ()
    return dataclasses.replace(spec, pip=tuple(sorted(set(spec.pip) | set(extra))), lines={})


def _differs_from_ours(recorded: str) -> bool:
    try:
        return Version(recorded) != Version(importlib.metadata.version("scikit-learn"))
    except (InvalidVersion, importlib.metadata.PackageNotFoundError):
        return True


def choose_scoring_environment(store: Any, spec: dict, models: list) -> ScoringEnvironment:
    """The environment one generation (its spec and model versions) needs."""
    config = spec.get("inference_config") or None
    if config and config.get("environment") is not None:
        try:
            resolved = resolve_environment(store, config["environment"],
                                           field="inference_config.environment")
        except Exception as err:  # deleted or changed since the request was accepted
            raise ScoringEnvironmentError(getattr(err, "message", str(err))) from err
        env = with_scoring_requirements(EnvSpec.from_dict(resolved["spec"]))
        return ScoringEnvironment(env, f"environment {resolved.get('name')}:"
                                       f"{resolved.get('version')}")
    if config is None and len(models) == 1:
        recorded = sklearn_version_of(models[0])
        if recorded and _differs_from_ours(recorded):
            try:
                env = with_scoring_requirements(sklearn_scoring_spec(recorded))
            except EnvSpecError as err:
                raise ScoringEnvironmentError(f"Model {models[0].id}: {err}") from err
            return ScoringEnvironment(env, f"scikit-learn {recorded}, as recorded for "
                                           f"{models[0].id}")
    return ScoringEnvironment(None, "the service's own Python")


def build_scoring_environment(choice: ScoringEnvironment, envs_root: Path,
                              log_path: Path) -> tuple[str | None, dict]:
    """Materialise the choice; returns (python or None for our own, extra environment)."""
    if choice.spec is None:
        return None, {}
    try:
        built = materialise(choice.spec, envs_root, log_path=log_path)
    except (EnvBuildError, EnvSpecError) as err:
        tail = getattr(err, "log_tail", "")
        raise ScoringEnvironmentError(f"Cannot build the scoring environment ({choice.reason}): "
                                      f"{err}{' — ' + tail[-500:] if tail else ''}") from err
    env = process_environ(built)
    env["PYTHONPATH"] = str(SCORING_ROOT)
    return built.python, env
