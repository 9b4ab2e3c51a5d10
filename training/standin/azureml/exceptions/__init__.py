"""azureml.exceptions: the exception names scripts catch."""
from .._amlocal import runcontext

AzureMLException = runcontext.AzureMLException
UserErrorException = runcontext.UserErrorException
ModelPathNotFoundException = runcontext.ModelPathNotFoundException


class RunEnvironmentException(AzureMLException):
    """The run's environment variables are missing."""


class ExperimentExecutionException(AzureMLException):
    """An experiment could not be run."""


class ActivityFailedException(AzureMLException):
    """A run ended Failed."""


class WebserviceException(AzureMLException):
    """A web service call failed."""


class ModelNotFoundException(AzureMLException):
    """No such model."""


class ProjectSystemException(AzureMLException):
    """A workspace or project could not be found."""


class SnapshotException(AzureMLException):
    """A snapshot could not be taken."""


class AuthenticationException(AzureMLException):
    """Azure authentication failed."""


class ComputeTargetException(AzureMLException):
    """A compute target call failed."""


class DiscoveryUrlNotFoundException(AzureMLException):
    """The service's discovery URL was not found."""


for _name, _value in list(globals().items()):
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
