"""Tiny entry scripts shared by the server tests and the differential test."""

UNDECORATED = """
import json
def init():
    pass
def run(raw_data):
    return {"echo": json.loads(raw_data) if raw_data else None, "type": type(raw_data).__name__}
"""

DECORATED = """
import numpy as np
from inference_schema.schema_decorators import input_schema, output_schema
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
def init():
    pass
@input_schema("data", NumpyParameterType(np.array([[1.0, 2.0, 3.0, 4.0]])))
@input_schema("scale", StandardPythonParameterType(1.0))
@output_schema(StandardPythonParameterType([10.0]))
def run(data, scale=1.0):
    return (data.sum(axis=1) * scale).tolist()
"""

RAISING = """
def init():
    pass
def run(data):
    raise RuntimeError("secret detail that must stay in the log")
"""

SLOW = """
import time
def init():
    pass
def run(data):
    end = time.monotonic() + 5
    while time.monotonic() < end:
        pass
    return "done"
"""

HEADERS = """
def init():
    pass
def run(data, request_headers):
    return {"custom": request_headers.get("X-Custom"), "data": data}
"""

NDARRAY = """
import numpy as np
def init():
    pass
def run(data):
    return np.array([1, 2])
"""

NO_RUN = """
def init():
    pass
"""

INIT_RAISES = """
def init():
    raise ValueError("model file is corrupt")
def run(data):
    return data
"""

SYNTAX_ERROR = """
def init(:
    pass
"""

BAD_SIGNATURE = """
def init():
    pass
def run(*args):
    return args
"""

GATED_PID = """
import os
def init():
    pass
def run(data):
    if data == "gate":  # wait until the test releases the gate (conftest.Gate)
        with open(os.environ["GATE_FIFO"]) as gate:
            gate.read()
    return os.getpid()
"""

# @rawhttp: run() gets the Flask request and answers with AMLResponse, a Flask Response or a value.
RAW = """
from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse
def init():
    pass
@rawhttp
def run(request: AMLRequest):
    if request.method == "OPTIONS":
        return AMLResponse("", 204, {"Allow": "GET, POST, OPTIONS"})
    if request.method == "GET":
        return {"method": "GET", "args": request.args.to_dict(flat=False)}
    kind = request.args.get("kind", "echo")
    if kind == "echo":
        return AMLResponse(request.get_data(), 200, {"Content-Type": request.content_type or "none"})
    if kind == "json":
        return AMLResponse({"length": len(request.get_data()), "type": request.content_type}, 201,
                           json_str=True)
    if kind == "none":
        return AMLResponse(None, 202)
    if kind == "headers":
        return AMLResponse("h", 200, {"X-Multi": "a, b", "Content-Type": "text/plain"})
    if kind == "teapot":
        return AMLResponse("short and stout", 418)
    if kind == "unavailable":
        return AMLResponse("later", 503)
    if kind == "flagged":
        return AMLResponse("flagged", 200, run_function_failed=True)
    if kind == "form":
        return {"form": request.form.to_dict(), "files": {k: [f.filename, len(f.read())]
                                                          for k, f in request.files.items()}}
    if kind == "flask":
        from flask import Response
        return Response("a,b\\n1,2\\n", status=299, mimetype="text/csv")
    if kind == "str":
        return "a string"
    raise ValueError("secret detail that must stay in the log")
"""

RAW_HEADERS = """
from azureml.contrib.services.aml_request import rawhttp
def init():
    pass
@rawhttp
def run(request, request_headers):
    return {"custom": request_headers.get("X-Custom"), "same": request.headers.get("X-Custom")}
"""

RAW_AND_SCHEMA = """
import numpy as np
from azureml.contrib.services.aml_request import rawhttp
from inference_schema.schema_decorators import input_schema
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
def init():
    pass
@rawhttp
@input_schema("data", NumpyParameterType(np.array([[1.0]])))
def run(data):
    return data
"""

# A script that uses the real SDK beside the stand-in (where azureml-core is installed).
RAW_WITH_SDK = """
import azureml.core
from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse
def init():
    pass
@rawhttp
def run(request):
    return AMLResponse(azureml.core.VERSION, 200, {"Content-Type": "text/plain"})
"""
