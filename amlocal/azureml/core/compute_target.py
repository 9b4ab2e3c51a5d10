"""azureml.core.compute_target."""
from .._base import module_getattr
from ..exceptions import ComputeTargetException  # noqa: F401

__getattr__ = module_getattr(__name__)
