"""azureml.core: Workspace, Experiment, Run, ScriptRunConfig, Environment, Model, Webservice."""
from .._base import lazy_submodules
from .compute import ComputeTarget  # noqa: F401
from .conda_dependencies import CondaDependencies  # noqa: F401
from .environment import Environment  # noqa: F401
from .experiment import Experiment  # noqa: F401
from .model import Model  # noqa: F401
from .resource_configuration import ResourceConfiguration  # noqa: F401
from .run import Run  # noqa: F401
from .runconfig import RunConfiguration, ScriptRunConfig  # noqa: F401
from .webservice import Webservice  # noqa: F401
from .workspace import Workspace  # noqa: F401

VERSION = "1.61.0+amlocal"
__version__ = VERSION

__getattr__ = lazy_submodules(__name__, (
    "compute", "compute_target", "conda_dependencies", "environment", "experiment", "model",
    "resource_configuration", "run", "runconfig", "script_run_config", "webservice", "workspace"))
