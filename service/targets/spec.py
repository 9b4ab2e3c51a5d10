"""From a validated request to a deployment spec: Azure ML's no-code rules, models, ports.

A spec is what one generation serves: {models, inference_config, worker_count, cpu_cores,
memory_gb}. Everything here runs in the API before a row is written, so bad input changes nothing.
"""
from __future__ import annotations

import ast
import errno
import keyword
import socket
from pathlib import PurePosixPath
from typing import Any

from ..errors import BadRequest, Conflict, NotFound
from ..store import Store

NO_CODE_FRAMEWORKS = ("Onnx", "ScikitLearn", "TensorFlow", "Multi")
# We serve only scikit-learn without code; Azure's other no-code frameworks need a score.py here.
SUPPORTED_NO_CODE = ("ScikitLearn",)
NEED_INFERENCE_CONFIG = "You must provide an InferenceConfig when deploying zero or multiple models."


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
