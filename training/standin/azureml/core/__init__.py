"""azureml.core inside an amlocal run: the names scripts import from it."""
from .dataset import Dataset
from .datastore import Datastore
from .environment import Environment
from .experiment import Experiment
from .model import Model
from .runconfig import RunConfiguration
from .run import Run
from .script_run_config import ScriptRunConfig
from .workspace import Workspace

VERSION = "1.61.0"  # the azureml-core release whose API this stand-in mirrors

__all__ = ["Dataset", "Datastore", "Environment", "Experiment", "Model", "Run",
           "RunConfiguration", "ScriptRunConfig", "Workspace"]
