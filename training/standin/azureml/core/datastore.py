"""azureml.core.datastore inside an amlocal run."""
from .._amlocal import AzureObject


class Datastore(AzureObject):
    """Importable; amlocal has no datastores."""

    advice = "amlocal has no datastores: ship data in the snapshot or read it from a path or URL."
