"""azureml.train.hyperdrive.runconfig.HyperDriveConfig → POST /experiments/<e>/sweeps."""
from __future__ import annotations

import warnings
from typing import Any

from ..._base import Mirrored, module_getattr, not_mirrored
from ...core._errors import azure_errors
from ...exceptions import UserErrorException
from .run import HyperDriveRun, PrimaryMetricGoal

MAX_DURATION_MINUTES = 10080


class HyperDriveConfig(Mirrored):
    """HyperDriveConfig(hyperparameter_sampling, primary_metric_name, primary_metric_goal,
    max_total_runs, max_concurrent_runs=None, max_duration_minutes=10080, policy=None,
    run_config=<a ScriptRunConfig>)."""

    def __init__(self, hyperparameter_sampling: Any, primary_metric_name: str,
                 primary_metric_goal: str, max_total_runs: int,
                 max_concurrent_runs: int | None = None,
                 max_duration_minutes: int = MAX_DURATION_MINUTES, policy: Any = None,
                 estimator: Any = None, run_config: Any = None, resume_from: Any = None,
                 resume_child_runs: Any = None, pipeline: Any = None, debug_flag: Any = None,
                 custom_run_id: Any = None):
        given = [n for n, v in (("estimator", estimator), ("run_config", run_config),
                                ("pipeline", pipeline)) if v is not None]
        if not given:
            raise UserErrorException("HyperDriveConfig expects at least one of estimator, "
                                     "run_config, pipeline to be set")
        if len(given) > 1:
            raise UserErrorException("HyperDriveConfig expects only one of estimator, "
                                     "run_config, pipeline to be set")
        if given[0] != "run_config":
            raise not_mirrored(f"HyperDriveConfig({given[0]}=...)", "give run_config=a "
                               "ScriptRunConfig")
        if resume_from or resume_child_runs:
            raise not_mirrored("HyperDriveConfig(resume_from=...)", "submit a new sweep")
        if hyperparameter_sampling is None:
            raise UserErrorException("HyperDriveConfig expects hyperparameter_sampling")
        if max_duration_minutes and max_duration_minutes > MAX_DURATION_MINUTES:
            warnings.warn(f"max_duration_minutes is capped at {MAX_DURATION_MINUTES}",
                          UserWarning, stacklevel=2)
            max_duration_minutes = MAX_DURATION_MINUTES
        self._sampling, self._policy, self.run_config = hyperparameter_sampling, policy, run_config
        self._primary_metric_config = {"name": primary_metric_name,
                                       "goal": PrimaryMetricGoal.from_str(primary_metric_goal)
                                       .lower()}
        self._max_total_runs = max_total_runs
        self._max_concurrent_runs = max_concurrent_runs or max_total_runs
        self._max_duration_minutes = max_duration_minutes

    def _body(self) -> dict:
        config = self.run_config._run_config()
        config.update(sampling=self._sampling._body(), primary_metric=self._primary_metric_config,
                      max_total_runs=self._max_total_runs,
                      max_concurrent_runs=self._max_concurrent_runs,
                      max_duration_minutes=self._max_duration_minutes)
        policy = self._policy._body() if self._policy is not None else None
        if policy:
            config["policy"] = policy
        return config

    def _submit_to(self, experiment: Any, tags: dict) -> HyperDriveRun:
        body = {**self._body(), "tags": tags}
        with azure_errors():
            found = experiment._client.submit_sweep(self.run_config.source_directory,
                                                    experiment.name, body)
        run = HyperDriveRun(experiment, found["id"], _data=found)
        run._config = self
        return run


__getattr__ = module_getattr(__name__)
