"""azureml.train.hyperdrive.run: HyperDriveRun (a sweep's parent) and PrimaryMetricGoal."""
from __future__ import annotations

import json
import time
from typing import Any

from ....client import RUN_TERMINAL, ClientError
from ..._base import module_getattr, not_mirrored
from ...core._errors import azure_errors
from ...core.run import Run
from ...exceptions import UserErrorException


POLL_S = 0.5


class PrimaryMetricGoal:
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"

    @classmethod
    def from_str(cls, goal: str) -> str:
        if isinstance(goal, str) and goal.upper() in (cls.MAXIMIZE, cls.MINIMIZE):
            return goal.upper()
        raise UserErrorException("The primary metric goal expects either 'maximize' or "
                                 "'minimize'.")


class HyperDriveRun(Run):
    """A sweep's parent run: its children are ordinary runs `<parent>_<index>`."""

    @property
    def hyperdrive_config(self) -> Any:
        return getattr(self, "_config", None)

    def _children(self, **params: Any) -> list[dict]:
        with azure_errors():
            return self._client.get(f"/runs/{self.id}/children", params=params)["children"]

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict:
        """As Run's; show_output streams the sweep's progress (Azure: azureml-logs/hyperdrive.txt):
        a line for each child as it starts and as it ends."""
        if show_output:
            self._stream_children()
        return super().wait_for_completion(False, wait_post_processing, raise_on_error)

    def _stream_children(self) -> None:
        print(f"RunId: {self.id}\nWeb View: {self.get_portal_url()}\n\n"
              f"Streaming azureml-logs/hyperdrive.txt\n{'=' * 46}\n", flush=True)
        seen: dict[str, str] = {}
        while True:
            done = self._refresh()["status"] in RUN_TERMINAL
            for child in self._children():
                status, before = child["status"], seen.get(child["run_id"])
                if status != before and (before is None or status in RUN_TERMINAL):
                    params = json.dumps(child["hyperparameters"])
                    print(f"[{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}] "
                          f"{child['run_id']}: {status} {params}", flush=True)
                seen[child["run_id"]] = status
            if done:
                break
            time.sleep(POLL_S)
        print(f"\nExecution Summary\n=================\nRunId: {self.id}\n"
              f"Web View: {self.get_portal_url()}\nStatus: {self._data['status']}\n", flush=True)

    def get_best_run_by_primary_metric(self, include_failed: bool = True,
                                       include_canceled: bool = True,
                                       include_resume_from_runs: bool = True) -> Run | None:
        """The child with the best primary metric; None when no child logged it."""
        params = {"include_failed": str(include_failed).lower(),
                  "include_canceled": str(include_canceled).lower()}
        try:
            found = self._client.get(f"/runs/{self.id}/best", params=params)
        except ClientError as err:
            if err.status == 404 and (err.body or {}).get("error", {}).get("field") == \
                    "primary_metric":
                return None
            raise UserErrorException(err.message) from err
        return Run(self.experiment, found["run_id"], _data=found["run"])

    def get_children_sorted_by_primary_metric(self, top: int = 0, reverse: bool = False,
                                              discard_no_metric: bool = False) -> list[dict]:
        return self._children(sort="primary_metric", top=top, reverse=str(reverse).lower(),
                              discard_no_metric=str(discard_no_metric).lower())

    def get_hyperparameters(self) -> dict:
        return {c["run_id"]: json.dumps(c["hyperparameters"]) for c in self._children()}

    def get_metrics(self, name: str | None = None, recursive: bool = False,
                    run_type: str | None = None, populate: bool = False) -> dict:
        """{child_run_id: {metric: value}}, as Azure's HyperDriveRun answers."""
        return {c["run_id"]: Run(self.experiment, c["run_id"]).get_metrics(name)
                for c in self._children()}

    def fail(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("fail is not implemented for HyperDrive run")

    def get_diagnostics(self) -> Any:
        raise NotImplementedError("get_diagnostics is not implemented for HyperDrive run")

    def register_model(self, *args: Any, **kwargs: Any) -> Any:
        raise not_mirrored("HyperDriveRun.register_model", "register from the best child: "
                           "get_best_run_by_primary_metric().register_model(...)")


Run._kinds["sweep"] = HyperDriveRun

__getattr__ = module_getattr(__name__)
