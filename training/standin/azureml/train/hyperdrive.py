"""azureml.train.hyperdrive inside an amlocal run: importable names; sweeps are configured and
submitted where runs are submitted (a notebook with amlocal.azureml, or `amlocal sweep submit`)."""
from .._amlocal import AzureObject

_ADVICE = "Configure and submit sweeps from a notebook (amlocal.azureml) or `amlocal sweep submit`."


class HyperDriveRun(AzureObject):
    """A sweep's parent run."""

    advice = _ADVICE


class HyperDriveConfig(AzureObject):
    """A sweep's configuration."""

    advice = _ADVICE


__all__ = ["HyperDriveConfig", "HyperDriveRun"]
