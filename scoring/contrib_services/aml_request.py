"""`azureml.contrib.services.aml_request`: the @rawhttp marker and the AMLRequest type.

As in azmlinfsrv, @rawhttp marks the script, not the function: once any function is decorated, the
server calls run() with the Flask request object (GET, POST and OPTIONS) instead of parsed input.
"""
from flask import Request

_rawHttpRequested = False  # the name azmlinfsrv uses; scoring.contrib_services reads it


def rawhttp(func):
    """Ask for raw HTTP access: run(request) receives the request (an AMLRequest, i.e. a Flask Request)."""
    global _rawHttpRequested
    _rawHttpRequested = True
    return func


class AMLRequest(Request):
    """The request type a @rawhttp run() receives (a Flask Request; the name keeps score.py free of Flask)."""

    def __init__(self):
        super().__init__()  # only for annotations, as in azmlinfsrv: the server builds the real request
