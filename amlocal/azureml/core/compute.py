"""azureml.core.compute: amlocal's one compute is its agent, named `local`.

Looking a compute target up by another name raises ComputeTargetException as Azure does for a
name it does not know; creating one (AmlCompute, AksCompute, ...) raises NotImplementedError.
"""
from __future__ import annotations

from typing import Any

from ...client import ClientError
from .._base import Mirrored, module_getattr, not_mirrored
from ..exceptions import ComputeTargetException

CREATE_ALTERNATIVE = ("amlocal provisions no Azure compute; runs execute on amlocal's agent: "
                      "pass compute_target='local' to ScriptRunConfig (or the name of a Ray "
                      "cluster registered with amlocal)")


class ComputeTarget(Mirrored):
    """ComputeTarget(workspace, name): `local` (the agent) or a compute registered with amlocal
    (a Ray cluster); another name is not found, as on Azure."""

    def __init__(self, workspace: Any, name: str):
        self.workspace, self.name, self.type = workspace, name, "local"
        self.provisioning_state = "Succeeded"
        if name == "local":
            return
        try:
            found = workspace._client.get(f"/computes/{name}")
        except ClientError as err:
            if err.status in (400, 404):
                raise ComputeTargetException(
                    f"ComputeTargetNotFound: Compute Target with name {name} not found in "
                    "provided workspace") from err
            raise ComputeTargetException(err.message) from err
        self.type = found.get("type", "ray")

    @staticmethod
    def list(workspace: Any) -> list:
        """`local` and every registered compute."""
        try:
            names = [c["name"] for c in workspace._client.get("/computes")["computes"]]
        except ClientError:
            names = []
        return [ComputeTarget(workspace, "local")] + [ComputeTarget(workspace, n) for n in names
                                                      if n != "local"]

    @staticmethod
    def create(workspace: Any, name: str, provisioning_configuration: Any) -> Any:
        raise not_mirrored(f"ComputeTarget.create ({name!r})", CREATE_ALTERNATIVE)

    @staticmethod
    def attach(*args: Any, **kwargs: Any) -> Any:
        raise not_mirrored("ComputeTarget.attach", CREATE_ALTERNATIVE)

    def wait_for_completion(self, show_output: bool = False, **_kwargs: Any) -> None:
        if show_output:
            print("Succeeded")

    def get_status(self) -> str:
        return self.provisioning_state

    def __repr__(self) -> str:
        return f"ComputeTarget(workspace={self.workspace!r}, name={self.name}, type={self.type})"


class _Provisioned(ComputeTarget):
    @staticmethod
    def provisioning_configuration(*args: Any, **kwargs: Any) -> dict:
        """Accepted, so that ComputeTarget.create can say what to do instead."""
        return {"args": args, **kwargs}


class AmlCompute(_Provisioned):
    pass


class AksCompute(_Provisioned):
    pass


class ComputeInstance(_Provisioned):
    pass


__getattr__ = module_getattr(__name__, {name: CREATE_ALTERNATIVE for name in (
    "DatabricksCompute", "HDInsightCompute", "RemoteCompute", "KubernetesCompute",
    "DataFactoryCompute", "AdlaCompute", "BatchCompute", "SynapseCompute")})
