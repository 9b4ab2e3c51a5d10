"""azureml.core.runconfig / ScriptRunConfig: what a submitted script run is."""
from __future__ import annotations

from typing import Any

from .._base import Mirrored, module_getattr


def target_name(target: Any) -> str:
    """The compute target's name: None means amlocal's agent (`local`)."""
    return str(getattr(target, "name", target) or "local")


class RunConfiguration(Mirrored):
    """The run's settings: environment, target, arguments, duration."""

    def __init__(self, script: str | None = None, arguments: list | None = None,
                 framework: str | None = None, communicator: str | None = None,
                 conda_dependencies: Any = None, _history_enabled: Any = None,
                 _path: Any = None, _name: Any = None, command: Any = None):
        from .environment import Environment
        self.script, self.arguments = script, list(arguments or [])
        self.environment = Environment("default-environment")
        self.environment._default = True
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
            self.environment._default = False
        self.target = "local"
        self.max_run_duration_seconds: int | None = None
        self.node_count = 1


class ScriptRunConfig(Mirrored):
    """ScriptRunConfig(source_directory, script, arguments, compute_target, environment, ...)."""

    def __init__(self, source_directory: str, script: str | None = None,
                 arguments: list | None = None, run_config: RunConfiguration | None = None,
                 _telemetry_values: Any = None, compute_target: Any = None,
                 environment: Any = None, distributed_job_config: Any = None,
                 resume_from: Any = None, max_run_duration_seconds: int = 2592000,
                 command: Any = None, docker_runtime_config: Any = None):
        if command is not None:
            raise NotImplementedError("ScriptRunConfig(command=...) is not mirrored by amlocal: "
                                      "give script and arguments")
        self.source_directory = source_directory
        self.script = script
        self.arguments = list(arguments or [])
        self.run_config = run_config or RunConfiguration()
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment
        self.run_config.max_run_duration_seconds = max_run_duration_seconds
        self.run_config.arguments = self.arguments
        self.run_config.script = script

    @property
    def compute_target(self) -> Any:
        return self.run_config.target

    @property
    def environment(self) -> Any:
        return self.run_config.environment

    def _run_config(self) -> dict:
        """The run config as POST …/runs takes it (the source folder travels beside it)."""
        if not self.script:
            raise NotImplementedError("ScriptRunConfig without a script is not mirrored by "
                                      "amlocal: give script='train.py'")
        config: dict[str, Any] = {"script": self.script,
                                  "arguments": [str(a) for a in self.arguments]}
        target = target_name(self.run_config.target)
        if target != "local":
            config["compute_target"] = target
        environment = self.run_config.environment
        if environment is not None and not getattr(environment, "_default", False):
            config["environment"] = environment._reference()
        duration = self.run_config.max_run_duration_seconds
        if duration and duration != 2592000:
            config["timeout_s"] = duration
        return config

    def _submit_to(self, experiment: Any, tags: dict):
        from .run import Run
        from ._errors import azure_errors
        config = self._run_config()
        with azure_errors():
            found = experiment._client.submit_source(
                self.source_directory, config["script"], experiment.name, config["arguments"],
                tags=tags, environment=config.get("environment"), timeout=config.get("timeout_s"),
                compute_target=config.get("compute_target"))
        return Run._from_dict(experiment, found)


__getattr__ = module_getattr(__name__)
