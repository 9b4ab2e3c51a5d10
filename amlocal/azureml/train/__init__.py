"""azureml.train: HyperDrive (azureml.train.hyperdrive) on amlocal's sweeps."""
from .._base import lazy_submodules

__getattr__ = lazy_submodules(__name__, ("hyperdrive",))
