"""The SDK's submodule path; the classes live in the package."""
from ..._base import module_getattr
from . import (AciServiceDeploymentConfiguration, AciWebservice,  # noqa: F401
               LocalWebservice, LocalWebserviceDeploymentConfiguration, Webservice)

__getattr__ = module_getattr(__name__)
