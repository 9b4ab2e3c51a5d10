"""`azureml.contrib.services.aml_response`: AMLResponse, the answer a @rawhttp run() may return."""
import json

from flask import Response


class AMLResponse(Response):
    """A Flask Response built the way azmlinfsrv 1.5.1 builds it.

    `message` None is an empty JSON object; `json_str=True` JSON-encodes `message`; otherwise it is
    the body as given (str or bytes, Flask's default text/html type unless the headers name one).
    Each header value is split on commas into repeated headers (RFC 2616 4.2), and
    `x-ms-run-function-failed` carries `run_function_failed`.
    """

    def __init__(self, message, status_code, response_headers=None, json_str=False,
                 run_function_failed=False):
        headers = response_headers or {}
        if message is None:
            super().__init__(json.dumps({}), status=status_code, mimetype="application/json")
        elif json_str:
            super().__init__(json.dumps(message), status=status_code, mimetype="application/json")
        else:
            super().__init__(message, status=status_code)
            if "Content-Type" in headers:  # the caller's type replaces Flask's default, not joins it
                self.headers.remove("Content-Type")
        self.headers["x-ms-run-function-failed"] = str(run_function_failed)
        for name, value in headers.items():
            for part in value.split(","):
                self.headers.add_header(name, part.strip())
