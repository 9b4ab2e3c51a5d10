"""Stand-ins for `azureml.contrib.services.aml_request` and `.aml_response`, which azmlinfsrv serves.

A score.py written for Azure imports `from azureml.contrib.services.aml_request import AMLRequest,
rawhttp` and `from azureml.contrib.services.aml_response import AMLResponse`. azmlinfsrv makes those
lines work by registering its own two modules in `sys.modules` under these names before it loads
the script; install() does the same with ours. Only the two leaf modules are registered, never a
package: `azureml` stays whatever is installed (azureml-core's namespace package, or nothing), so
nothing of a real SDK is shadowed, and a script that also imports azureml-core gets the real one.
"""
from __future__ import annotations

import sys

from . import aml_request, aml_response

ALIASES = {"azureml.contrib.services.aml_request": aml_request,
           "azureml.contrib.services.aml_response": aml_response}
# Where a script's @rawhttp may have come from: our module (under either name) or, when
# azureml-inference-server-http is installed and the script imports it directly, azmlinfsrv's.
_FLAG_MODULES = (aml_request.__name__, *ALIASES, "azureml_inference_server_http.api.aml_request")


def install() -> None:
    """Make the azureml.contrib.services imports resolve to our modules (as azmlinfsrv does)."""
    sys.modules.update(ALIASES)


def reset_rawhttp() -> None:
    """Forget any earlier @rawhttp (before a script is loaded: the flag is module-global)."""
    for name in _FLAG_MODULES:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "_rawHttpRequested"):
            module._rawHttpRequested = False


def rawhttp_requested() -> bool:
    """True once any @rawhttp has been applied: azmlinfsrv then hands run() the request itself."""
    return any(getattr(sys.modules.get(name), "_rawHttpRequested", False) for name in _FLAG_MODULES)
