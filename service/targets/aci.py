"""The ACI target: Azure ML's own objects, built here, sent through one small interface.

`plan_deployment` builds the real azureml-core objects (`ResourceConfiguration`, `InferenceConfig`
with `Environment.from_conda_specification`, `AciWebservice.deploy_configuration`) and the
arguments of `Model.register`/`Model.deploy`; `execute` hands them to an `AzureBackend`. Only
`AzureMLBackend` talks to Azure; tests use a recording backend and check every argument.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import yaml

from ..settings import Settings
from ..store.deployments import Deployment
from . import StartRequest
from .health import StartFailed
from .layout import write_source

DEFAULT_CONDA_FILE = Path(__file__).resolve().parents[2] / "environments" / "sklearn-env.yml"
WAIT_TIMEOUT_S = 1800


def import_azureml() -> Any:
    """azureml-core's deployment classes (imported late: slow, and it warns on import)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from azureml.core import Environment, Model
        from azureml.core.model import InferenceConfig
        from azureml.core.resource_configuration import ResourceConfiguration
        from azureml.core.webservice import AciWebservice
    return Environment, Model, InferenceConfig, ResourceConfiguration, AciWebservice


class AzureBackend(Protocol):
    """Everything amlocal asks of Azure ML for an ACI deployment."""

    def register_model(self, model_base: Path, **kwargs: Any) -> Any: ...
    def deploy(self, name: str, models: list, inference_config: Any, deployment_config: Any,
               overwrite: bool) -> Any: ...
    def wait(self, service: Any, timeout_s: float) -> dict: ...
    def get_keys(self, service: Any) -> tuple[str, str]: ...
    def delete(self, name: str) -> None: ...


@dataclass
class AciPlan:
    """What would be sent: Model.register kwargs per model, then Model.deploy's arguments."""

    name: str
    registrations: list[dict]
    model_base: Path            # model_path values are relative to it (azureml-core demands)
    inference_config: Any       # InferenceConfig or None (no-code)
    deployment_config: Any      # AciServiceDeploymentConfiguration
    overwrite: bool
    workdir: Path | None = None  # temporary files the plan's objects point at
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        """A JSON-able account of every call and argument."""
        config = self.inference_config
        return {
            "Model.register": [{**r, "resource_configuration": (
                r["resource_configuration"].serialize() if r["resource_configuration"] else None)}
                for r in self.registrations],
            "InferenceConfig": None if config is None else {
                "entry_script": config.entry_script,
                "source_directory": config.source_directory,
                "environment": {"name": config.environment.name,
                                "conda_dependencies": config.environment.python
                                .conda_dependencies.serialize_to_string()}},
            "AciWebservice.deploy_configuration": {
                "cpu_cores": self.deployment_config.cpu_cores,
                "memory_gb": self.deployment_config.memory_gb,
                "auth_enabled": self.deployment_config.auth_enabled,
                "primary_key": "***" if self.deployment_config.primary_key else None,
                "secondary_key": "***" if self.deployment_config.secondary_key else None},
            "Model.deploy": {"name": self.name,
                             "models": [r["model_name"] for r in self.registrations],
                             "inference_config": None if config is None else "InferenceConfig",
                             "deployment_config": "AciServiceDeploymentConfiguration",
                             "overwrite": self.overwrite},
            "notes": self.notes}

    def cleanup(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _conda_file(environment: Any, dest: Path) -> Path:
    """The conda spec to send: the inference config's (a dict) or the iris env, + azureml-defaults."""
    spec = environment if isinstance(environment, dict) else yaml.safe_load(
        DEFAULT_CONDA_FILE.read_text())
    deps = list(spec.get("dependencies") or [])
    pip = next((d for d in deps if isinstance(d, dict) and "pip" in d), None)
    if pip is None:
        pip = {"pip": []}
        deps.append(pip)
    if not any(str(p).startswith("azureml-defaults") for p in pip["pip"]):
        pip["pip"] = [*pip["pip"], "azureml-defaults"]  # ACI images need it (Azure ML warns)
    path = dest / "conda.yml"
    path.write_text(yaml.safe_dump({**spec, "dependencies": deps}, sort_keys=False))
    return path


def plan_deployment(name: str, spec: dict, models: list[Any], model_base: Path,
                    keys: tuple[str, str] | None, source_dir: Path | None = None,
                    overwrite: bool = False, extract_run: Any = None) -> AciPlan:
    """Build the azureml-core objects for deploying `spec` to ACI as `name`."""
    Environment, _Model, InferenceConfig, ResourceConfiguration, AciWebservice = import_azureml()
    registrations = []
    for model in models:
        rc = model.resource_configuration or {}
        files = [f["path"] for f in model.files]
        rel = Path(model.dir).relative_to(model_base)
        registrations.append({
            "model_path": str(rel / files[0]) if len(files) == 1 else str(rel),
            "model_name": model.name, "model_framework": model.framework,
            "model_framework_version": model.framework_version,
            "resource_configuration": ResourceConfiguration(
                cpu=rc.get("cpu"), memory_in_gb=rc.get("memory_in_gb"), gpu=rc.get("gpu"))
            if rc else None,
            "tags": {"amlocal.model_id": model.id},
            "description": model.description})
    workdir = Path(tempfile.mkdtemp(prefix="amlocal-aci-"))
    config = spec.get("inference_config")
    inference_config = None
    if config is not None:
        if source_dir is None:
            source_dir = workdir / "source"
            write_source(config["source"], source_dir, extract_run)
        env = Environment.from_conda_specification(f"{name}-env",
                                                   str(_conda_file(config.get("environment"),
                                                                   workdir)))
        inference_config = InferenceConfig(entry_script=config["entry_script"],
                                           source_directory=str(source_dir), environment=env)
    deployment_config = AciWebservice.deploy_configuration(
        cpu_cores=spec.get("cpu_cores"), memory_gb=spec.get("memory_gb"),
        auth_enabled=keys is not None, primary_key=keys[0] if keys else None,
        secondary_key=keys[1] if keys else None)
    return AciPlan(name=name, registrations=registrations, model_base=model_base,
                   inference_config=inference_config, deployment_config=deployment_config,
                   overwrite=overwrite, workdir=workdir)


def execute(plan: AciPlan, backend: AzureBackend, timeout_s: float = WAIT_TIMEOUT_S) -> dict:
    """Register the models, deploy, wait; returns {state, scoring_uri, swagger_uri, keys}."""
    registered = [backend.register_model(plan.model_base, **r) for r in plan.registrations]
    service = backend.deploy(plan.name, registered, plan.inference_config,
                             plan.deployment_config, plan.overwrite)
    outcome = backend.wait(service, timeout_s)
    if outcome.get("state") != "Healthy":
        raise StartFailed(outcome.get("error") or f"ACI service is {outcome.get('state')}")
    if plan.deployment_config.auth_enabled:
        outcome["keys"] = list(backend.get_keys(service))
    return outcome


class AzureMLBackend:
    """The real thing: azureml-core against a workspace (config.json or AMLOCAL_AZURE_*)."""

    _cwd_lock = threading.Lock()

    def __init__(self, workspace: Any):
        self.workspace = workspace

    @classmethod
    def from_settings(cls, settings: Settings) -> "AzureMLBackend":
        """A service principal from the AMLOCAL_AZURE_* settings, else Workspace.from_config()."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from azureml.core import Workspace
            from azureml.core.authentication import ServicePrincipalAuthentication
        principal = settings.azure_service_principal
        if principal is not None:
            auth = ServicePrincipalAuthentication(
                tenant_id=principal["tenant_id"], service_principal_id=principal["client_id"],
                service_principal_password=principal["client_secret"])
            return cls(Workspace(principal["subscription_id"], principal["resource_group"],
                                 principal["workspace_name"], auth=auth))
        return cls(Workspace.from_config())

    def register_model(self, model_base: Path, **kwargs: Any) -> Any:
        """Model.register; azureml-core 1.61.0.post4 wants model_path inside the CWD."""
        _Env, Model, *_ = import_azureml()
        with self._cwd_lock:
            previous = os.getcwd()
            os.chdir(model_base)
            try:
                return Model.register(workspace=self.workspace, **kwargs)
            finally:
                os.chdir(previous)

    def deploy(self, name: str, models: list, inference_config: Any, deployment_config: Any,
               overwrite: bool) -> Any:
        _Env, Model, *_ = import_azureml()
        return Model.deploy(self.workspace, name, models, inference_config=inference_config,
                            deployment_config=deployment_config, overwrite=overwrite)

    def wait(self, service: Any, timeout_s: float) -> dict:
        try:
            service.wait_for_deployment(show_output=False, timeout_sec=timeout_s)
        except Exception as err:  # azureml raises WebserviceException with Azure's message
            return {"state": "Failed", "error": str(err).splitlines()[0]}
        return {"state": service.state, "scoring_uri": service.scoring_uri,
                "swagger_uri": service.swagger_uri, "error": service.error}

    def get_keys(self, service: Any) -> tuple[str, str]:
        return tuple(service.get_keys())

    def delete(self, name: str) -> None:
        from azureml.core.webservice import Webservice
        Webservice(self.workspace, name).delete()


class AciTarget:
    """The reconciler's view of ACI: a remote deployment, deployed (and updated) in one call."""

    kind = "aci"
    remote = True
    check_interval_s = 3600.0  # Azure restarts ACI containers itself

    def __init__(self, backend_factory: Callable[[], AzureBackend]):
        self.backend_factory = backend_factory

    def _backend(self) -> AzureBackend:
        try:
            return self.backend_factory()
        except Exception as err:  # azureml raises its own types for a missing config.json
            raise StartFailed(f"Azure ML workspace is not configured (config.json or "
                              f"AMLOCAL_AZURE_* variables): {err}") from err

    def start(self, request: StartRequest) -> dict[str, Any]:
        """Register, deploy and wait; returns the runtime with Azure's scoring URI."""
        backend = self._backend()
        name = request.name
        plan = plan_deployment(name, request.spec, request.models, request.model_root,
                               request.keys, request.layout.source_dir, request.overwrite)
        try:
            outcome = execute(plan, backend)
        except StartFailed:
            raise
        except Exception as err:  # Azure's errors become the deployment's error
            raise StartFailed(f"ACI deployment failed: {str(err).splitlines()[0]}") from err
        finally:
            plan.cleanup()
        return {"kind": self.kind, "name": name, "scoring_uri": outcome.get("scoring_uri"),
                "swagger_uri": outcome.get("swagger_uri")}

    def is_running(self, runtime: dict) -> bool:
        return True

    def stop(self, runtime: dict, grace_s: float = 0) -> None:
        """An update replaces the ACI service in place (overwrite): nothing to stop."""

    def kill_group(self, runtime: dict) -> None:
        """Nothing runs locally."""

    def logs(self, runtime: dict, lines: int) -> str:
        return ""

    def delete(self, dep: Deployment) -> None:
        """Delete the ACI service (when one was created)."""
        if dep.served_generation:
            self._backend().delete(dep.name)
