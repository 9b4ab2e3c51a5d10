"""azureml.core.script_run_config."""
from .._base import module_getattr
from .runconfig import RunConfiguration, ScriptRunConfig  # noqa: F401

__getattr__ = module_getattr(__name__)
