"""azureml.exceptions: the SDK's exception classes, raised with its messages."""
from __future__ import annotations

from ._base import module_getattr


class AzureMLException(Exception):
    """Base of every SDK error; `message` is the text."""

    def __init__(self, exception_message: str = "", inner_exception: BaseException | None = None,
                 **kwargs):
        super().__init__(exception_message)
        self.message = exception_message
        self.inner_exception = inner_exception


class UserErrorException(AzureMLException):
    pass


class WebserviceException(AzureMLException):
    def __init__(self, exception_message: str = "", status_code: int | None = None,
                 logger=None, **kwargs):
        super().__init__(exception_message, **kwargs)
        self.status_code = status_code


class ActivityFailedException(AzureMLException):
    def __init__(self, error_details: str = "", **kwargs):
        super().__init__(f"Activity Failed:\n{error_details}", **kwargs)


class ExperimentExecutionException(AzureMLException):
    pass


class SnapshotException(AzureMLException):
    pass


class ModelNotFoundException(AzureMLException):
    pass


class ModelPathNotFoundException(AzureMLException):
    pass


class ComputeTargetException(AzureMLException):
    pass


class RunEnvironmentException(AzureMLException):
    pass


class WorkspaceException(AzureMLException):
    pass


__getattr__ = module_getattr(__name__)
