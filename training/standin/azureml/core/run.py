"""azureml.core.run inside an amlocal run: `Run.get_context()` is the amlocal run."""
from .._amlocal import runcontext

Run = runcontext.AmlocalRun


class _OfflineRun(Run):
    """Azure's offline run: what get_context() gives outside Azure. Under amlocal the run is
    online, so `isinstance(run, _OfflineRun)` is False, as it is in Azure."""


__all__ = ["Run", "_OfflineRun"]
