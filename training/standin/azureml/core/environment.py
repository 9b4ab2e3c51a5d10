"""azureml.core.environment inside an amlocal run."""
from .._amlocal import AzureObject


class Environment(AzureObject):
    """Importable; environments are defined where runs are submitted."""

    advice = "Define environments where the run is submitted (`amlocal environment register`)."
