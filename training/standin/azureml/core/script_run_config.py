"""azureml.core.script_run_config inside an amlocal run."""
from .._amlocal import AzureObject


class ScriptRunConfig(AzureObject):
    """Importable; runs are submitted from a notebook or the CLI, not from inside a run."""

    advice = "Submit runs from a notebook (amlocal.azureml) or with `amlocal run submit`."
