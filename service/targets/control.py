"""What the deployment routes do: validate against the registry, write the desired state.

The agent's reconciler does the rest; these functions only read and write rows, so a request that
fails validation changes nothing.
"""
from __future__ import annotations

import time
from typing import Any

from ..errors import BadRequest, Conflict, NotFound
from ..store import Store
from ..store.deployments import KEY_NAMES, Deployment
from .spec import build_spec, choose_port

COMPUTE_TYPES = {"local": "Local", "docker": "Local", "aci": "ACI"}


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
    if "models" in body or "inference_config" in body:
        new = build_spec(store, models, config, {"worker_count": worker_count,
                                                 "cpu_cores": spec.get("cpu_cores"),
                                                 "memory_gb": spec.get("memory_gb")})
    else:
        new = {**spec, "worker_count": worker_count}
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
            "cpu_cores": dep.spec.get("cpu_cores"), "memory_gb": dep.spec.get("memory_gb"),
            "port": dep.port, "scoring_uri": dep.scoring_uri, "swagger_uri": dep.swagger_uri,
            "auth_enabled": dep.auth_enabled, "error": dep.error, "generation": dep.generation,
            "served_generation": dep.served_generation, "created_time": dep.created_time,
            "updated_time": dep.updated_time, "history": dep.history}


def logs(ws: Any, dep: Deployment, lines: int) -> str:
    """The newest generation's server log (its docker logs for the docker target)."""
    from .layout import generation_dir
    from .local import tail

    if dep.target == "docker":
        from .docker import deployment_logs
        return deployment_logs(ws, dep, lines)
    for generation in (dep.generation, dep.served_generation):
        if generation:
            path = generation_dir(ws, dep.name, generation) / "logs" / "scoring.log"
            if path.exists():
                return tail(path, lines)
    return ""
