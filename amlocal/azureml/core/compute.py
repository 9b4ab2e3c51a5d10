"""azureml.core.compute: amlocal's computes are its agent (`local`) and the targets registered
with it (Ray clusters, and other names for the agent).

Looking a compute target up by a name amlocal does not know raises ComputeTargetException as
Azure does. `ComputeTarget.create` with an AmlCompute (or ComputeInstance) configuration registers
the name as another name for amlocal's agent (`type local`): a notebook that creates its training
cluster runs unchanged, its runs executing on this machine. Other kinds (AKS, Databricks, ...)
raise NotImplementedError naming the alternative.
"""
from __future__ import annotations

from typing import Any

from ...client import ClientError
from .._base import Mirrored, module_getattr, not_mirrored
from ..exceptions import ComputeTargetException

CREATE_ALTERNATIVE = ("amlocal provisions no Azure compute; runs execute on amlocal's agent: "
                      "pass compute_target='local' to ScriptRunConfig (or the name of a Ray "
                      "cluster registered with amlocal)")
TRAINING_KINDS = ("AmlCompute", "ComputeInstance")  # created as other names for the agent


class ComputeStatus:
    """What get_status() answers: an agent (or cluster) that is ready; serialize() as Azure."""

    def __init__(self, target: "ComputeTarget"):
        self.provisioning_state, self.target = "Succeeded", target

    def serialize(self) -> dict:
        return {"provisioningState": self.provisioning_state, "allocationState": "Steady",
                "currentNodeCount": 1, "targetNodeCount": 1, "computeType": self.target.type,
                "name": self.target.name}

    def __repr__(self) -> str:
        return repr(self.serialize())


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
        """An AmlCompute/ComputeInstance configuration: `name` becomes another name for amlocal's
        agent (what the cluster's runs execute on here); other kinds are not mirrored."""
        kind = (provisioning_configuration or {}).get("kind") \
            if isinstance(provisioning_configuration, dict) else None
        if kind not in TRAINING_KINDS:
            raise not_mirrored(f"ComputeTarget.create ({name!r})", CREATE_ALTERNATIVE)
        shown = {k: v for k, v in provisioning_configuration.items() if k not in ("kind", "args")}
        try:
            workspace._client.post("/computes", json={
                "name": name, "type": "local",
                "description": f"Azure {kind} {shown} on amlocal: runs go to the agent"})
        except ClientError as err:
            raise ComputeTargetException(err.message) from err
        return ComputeTarget(workspace, name)

    @staticmethod
    def attach(*args: Any, **kwargs: Any) -> Any:
        raise not_mirrored("ComputeTarget.attach", CREATE_ALTERNATIVE)

    def wait_for_completion(self, show_output: bool = False, **_kwargs: Any) -> None:
        if show_output:
            print("Succeeded")

    def get_status(self) -> ComputeStatus:
        return ComputeStatus(self)

    def __repr__(self) -> str:
        return f"ComputeTarget(workspace={self.workspace!r}, name={self.name}, type={self.type})"


class _Provisioned(ComputeTarget):
    @classmethod
    def provisioning_configuration(cls, *args: Any, **kwargs: Any) -> dict:
        """Accepted (vm_size, max_nodes, ...), so that ComputeTarget.create knows the kind."""
        return {"kind": cls.__name__, "args": args, **kwargs}


class AmlCompute(_Provisioned):
    pass


class AksCompute(_Provisioned):
    pass


class ComputeInstance(_Provisioned):
    pass


__getattr__ = module_getattr(__name__, {name: CREATE_ALTERNATIVE for name in (
    "DatabricksCompute", "HDInsightCompute", "RemoteCompute", "KubernetesCompute",
    "DataFactoryCompute", "AdlaCompute", "BatchCompute", "SynapseCompute")})
