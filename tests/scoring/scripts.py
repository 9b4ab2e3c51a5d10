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
