"""azureml.core.runconfig inside an amlocal run."""
from .._amlocal import AzureObject


class RunConfiguration(AzureObject):
    """Importable; run configurations belong where runs are submitted."""

    advice = "Configure runs where they are submitted (amlocal.azureml or `amlocal run submit`)."
