"""azureml.core.workspace inside an amlocal run."""
from .._amlocal import AzureObject


class Workspace(AzureObject):
    """Importable; a script's workspace is `run.experiment.workspace`."""

    advice = ("Inside a run use run.experiment.workspace; from a notebook use "
              "amlocal.azureml.core.Workspace.")
