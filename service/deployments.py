"""Deployments: validate a request against the registry, write the desired state, read it back.

A spec is what one generation serves: {models, inference_config, worker_count, cpu_cores,
memory_gb}. Everything here runs before a row is written, so a request that fails validation
changes nothing; the agent's reconciler (service/agent/reconciler.py) does the rest.
"""
from __future__ import annotations

import ast
import errno
import keyword
import socket
import time
from pathlib import Path, PurePosixPath
from typing import Any

from training import snapshot as snapshots

from .errors import BadRequest, Conflict, NotFound
from .store import Store, Workspace
from .store.deployments import KEY_NAMES, Deployment
from .targets.aci import plan_deployment
from .targets.docker import deployment_logs
from .targets.layout import generation_dir
from .targets.local import tail

COMPUTE_TYPES = {"local": "Local", "docker": "Local", "aci": "ACI"}
NO_CODE_FRAMEWORKS = ("Onnx", "ScikitLearn", "TensorFlow", "Multi")
# We serve only scikit-learn without code; Azure's other no-code frameworks need a score.py here.
SUPPORTED_NO_CODE = ("ScikitLearn",)
# The scoring server's micro-batching, per deployment (None: the server's defaults).
BATCHING_KNOBS = ("max_batch_rows", "max_latency_ms")
NEED_INFERENCE_CONFIG = "You must provide an InferenceConfig when deploying zero or multiple models."


# -- specs and ports ---------------------------------------------------------------------------


def parse_model_id(model_id: str) -> tuple[str, int | str]:
    """'name:version' → (name, int version or 'latest')."""
    name, _, version = model_id.rpartition(":")
    return name, version if version == "latest" else int(version)


def resolve_models(store: Store, model_ids: list[str]) -> list[Any]:
    """Every `name:version` as a registered ModelVersion; 400 naming the first unknown one."""
    found = []
    for i, model_id in enumerate(model_ids):
        name, version = parse_model_id(model_id)
        try:
            found.append(store.get_model_version(name, version))
        except NotFound as err:
            raise BadRequest(f"Invalid field 'models[{i}]': {err.message}",
                             field=f"models[{i}]") from err
    ids = [m.id for m in found]
    if len(set(ids)) != len(ids):
        raise BadRequest("Invalid field 'models': a model version is listed twice.",
                         field="models")
    return found


def check_no_code(models: list[Any]) -> None:
    """Azure ML's rules for a deployment without an InferenceConfig."""
    if len(models) != 1:
        raise BadRequest(NEED_INFERENCE_CONFIG, field="inference_config")
    framework = models[0].framework
    if framework not in SUPPORTED_NO_CODE:
        raise BadRequest(f"You must provide an InferenceConfig when deploying a model with "
                         f"model_framework set to {framework or 'Custom'}. Default environments "
                         f"are only provided for these frameworks: {list(SUPPORTED_NO_CODE)}.",
                         field="inference_config")


def check_entry_script(config: dict, store: Store) -> None:
    """Azure's InferenceConfig checks: a .py file, importable name, present in the source, parses."""
    entry = config["entry_script"]
    path = PurePosixPath(entry)
    field = "inference_config.entry_script"
    if path.is_absolute() or ".." in path.parts:
        raise BadRequest(f"Invalid field '{field}': must be a relative path inside the source.",
                         field=field)
    if path.suffix != ".py":
        raise BadRequest("Invalid driver type. Currently only Python drivers are supported.",
                         field=field)
    if not path.stem.isidentifier() or keyword.iskeyword(path.stem):
        raise BadRequest(f'Error, invalid name "{path.stem}" for provided entry script. The '
                         f"script must be importable as a valid python module.", field=field)
    source = config["source"]
    if "files" in source:
        if entry not in source["files"]:
            raise BadRequest(f"Invalid field '{field}': {entry} is not among the source files "
                             f"{sorted(source['files'])}.", field=field)
        try:
            ast.parse(source["files"][entry], filename=entry)
        except SyntaxError as err:
            raise BadRequest(f"{err}. Please check it and try local deployment to verify.",
                             field=field) from err
    else:
        try:
            store.get_run(source["run_id"])
        except NotFound as err:
            raise BadRequest(f"Invalid field 'inference_config.source.run_id': {err.message}",
                             field="inference_config.source.run_id") from err


def build_spec(store: Store, models_ids: list[str], inference_config: dict | None,
               config: dict) -> dict:
    """Validate models and configuration; return the spec of the generation to serve."""
    models = resolve_models(store, models_ids)
    if inference_config is None:
        check_no_code(models)
    else:  # Azure allows zero models with a config; so do we
        check_entry_script(inference_config, store)
    resources = (models[0].resource_configuration or {}) if len(models) == 1 else {}
    return {
        "models": [m.id for m in models],
        "frameworks": {m.id: m.framework for m in models},
        "inference_config": inference_config,
        "worker_count": config.get("worker_count") or 1,
        **{knob: config.get(knob) for knob in BATCHING_KNOBS},
        "cpu_cores": config.get("cpu_cores") or resources.get("cpu"),
        "memory_gb": config.get("memory_gb") or resources.get("memory_in_gb"),
    }


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port (a plain bind, as the server's first one)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port() -> int:
    """A port nothing listens on now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def choose_port(store: Store, requested: int | None) -> int:
    """The requested port if free (409 otherwise), else a free one no deployment has."""
    used = {d.port for d in store.list_deployments()}
    if requested is not None:
        if requested in used or not port_is_free(requested):
            raise Conflict(f"Invalid field 'deployment_config.port': port {requested} is already "
                           f"in use on 127.0.0.1.", field="deployment_config.port")
        return requested
    while True:
        port = free_port()
        if port not in used:
            return port


# -- verbs ---------------------------------------------------------------------------------------

def create(store: Store, body: dict) -> Deployment:
    """POST /deployments: a new deployment, or with `overwrite` a new generation of one."""
    config = body["deployment_config"]
    spec = build_spec(store, body["models"], body["inference_config"], config)
    try:
        existing = store.get_deployment(body["name"])
    except NotFound:
        existing = None
    if existing is not None:
        if not body["overwrite"]:
            raise Conflict(f"Service {existing.name} with the same name already exists, please "
                           f"use a different service name or delete the existing service.",
                           field="name")
        if existing.target != config["target"]:
            raise Conflict(f"Deployment {existing.name!r} runs on target {existing.target!r}; "
                           f"delete it before deploying it to {config['target']!r}.",
                           field="deployment_config.target")
        if config.get("port") not in (None, existing.port):
            raise Conflict(f"Deployment {existing.name!r} keeps its port {existing.port}.",
                           field="deployment_config.port")
        return store.new_generation(existing.name, spec, "overwritten",
                                    auth_enabled=config["auth_enabled"])
    port = choose_port(store, config.get("port"))
    return store.create_deployment(body["name"], config["target"], spec, port,
                                   auth_enabled=config["auth_enabled"])


def update(store: Store, name: str, body: dict) -> Deployment:
    """PATCH: new models, entry script, worker count or auth as the next generation."""
    dep = store.get_deployment(name)
    spec = dict(dep.spec)
    models = body.get("models", spec["models"])
    config = body["inference_config"] if "inference_config" in body else spec["inference_config"]
    worker_count = body.get("worker_count", spec.get("worker_count") or 1)
    knobs = {knob: body.get(knob, spec.get(knob)) for knob in BATCHING_KNOBS}
    if "models" in body or "inference_config" in body:
        new = build_spec(store, models, config, {"worker_count": worker_count, **knobs,
                                                 "cpu_cores": spec.get("cpu_cores"),
                                                 "memory_gb": spec.get("memory_gb")})
    else:
        new = {**spec, "worker_count": worker_count, **knobs}
    return store.new_generation(name, new, "updated", auth_enabled=body.get("auth_enabled"))


def rollback(store: Store, name: str) -> Deployment:
    """Return to what was served before the current generation, the same way as an update."""
    dep = store.get_deployment(name)
    previous = store.previous_served(name)
    if previous is None:
        raise Conflict(f"Deployment {name!r} has nothing to roll back to: no generation before "
                       f"{dep.served_generation} was ever served.", field="name")
    return store.new_generation(name, previous["spec"],
                                f"rollback to generation {previous['generation']}")


def regenerate_key(store: Store, name: str, key: str) -> Deployment:
    """Azure's regen_key: 'Primary' or 'Secondary', case-insensitive."""
    wanted = {k.lower(): k for k in KEY_NAMES}.get(key.lower())
    if wanted is None:
        raise BadRequest(f"Error, invalid value provided for key: {key}.\nValid options are: "
                         f"Primary, Secondary", field="key")
    return store.regenerate_key(name, wanted)


def keys(store: Store, name: str) -> dict:
    """The deployment's keys; 409 when auth is not enabled."""
    dep = store.get_deployment(name)
    if dep.keys is None:
        raise Conflict(f"Deployment {name!r} does not have auth enabled; it has no keys.",
                       field="name")
    return {"primary_key": dep.keys[0], "secondary_key": dep.keys[1]}


def delete(store: Store, name: str, timeout_s: float = 120.0) -> bool:
    """Ask the agent to delete; wait until the row is gone. False if it is still going."""
    store.request_delete(name)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            store.get_deployment(name)
        except NotFound:
            return True
        time.sleep(0.05)  # the agent, another process, removes the row
    return False


def to_view(dep: Deployment) -> dict[str, Any]:
    """The deployment as the API shows it (no keys, no inline source files)."""
    config = dep.spec.get("inference_config") or {}
    return {"name": dep.name, "state": dep.state, "target": dep.target,
            "compute_type": COMPUTE_TYPES.get(dep.target, dep.target), "models": dep.models,
            "entry_script": config.get("entry_script"),
            "worker_count": dep.spec.get("worker_count") or 1,
            **{knob: dep.spec.get(knob) for knob in BATCHING_KNOBS},
            "cpu_cores": dep.spec.get("cpu_cores"), "memory_gb": dep.spec.get("memory_gb"),
            "port": dep.port, "scoring_uri": dep.scoring_uri, "swagger_uri": dep.swagger_uri,
            "auth_enabled": dep.auth_enabled, "error": dep.error, "generation": dep.generation,
            "served_generation": dep.served_generation, "created_time": dep.created_time,
            "updated_time": dep.updated_time, "history": dep.history}


def logs(ws: Workspace, dep: Deployment, lines: int) -> str:
    """The newest generation's server log (its docker logs for the docker target)."""
    if dep.target == "docker":
        return deployment_logs(ws, dep, lines)
    for generation in (dep.generation, dep.served_generation):
        if generation:
            path = generation_dir(ws, dep.name, generation) / "logs" / "scoring.log"
            if path.exists():
                return tail(path, lines)
    return ""


def dry_run_aci(store: Store, ws: Workspace, body: dict) -> dict:
    """What `amlocal deploy --target aci` would send, without sending it."""
    spec = build_spec(store, body["models"], body["inference_config"], body["deployment_config"])
    models = resolve_models(store, body["models"])
    keys = ("<primary>", "<secondary>") if body["deployment_config"]["auth_enabled"] else None

    def extract_run(run_id: str, dest: Path) -> None:
        snapshots.extract(ws.snapshot(store.get_run(run_id).snapshot_sha256), dest)

    plan = plan_deployment(body["name"], spec, models, ws.root / "models", keys,
                           overwrite=body["overwrite"], extract_run=extract_run)
    try:
        return plan.describe()
    finally:
        plan.cleanup()
