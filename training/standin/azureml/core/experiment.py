"""azureml.core.experiment inside an amlocal run."""
from .._amlocal import AzureObject


class Experiment(AzureObject):
    """Importable; a script's experiment is `run.experiment`."""

    advice = ("Inside a run use run.experiment; submit runs from a notebook with "
              "amlocal.azureml.core.Experiment or `amlocal run submit`.")
