"""Swagger 2.0 / OpenAPI 3.0 / 3.1 documents for the scoring routes, from inference-schema's decorators."""
from __future__ import annotations

import json
import os
from typing import Any, Callable

from .errors import NotFound
from .logs import logger

# version served -> (aliases accepted in ?version=, inference-schema's name for it)
VERSIONS = {"2": ({"2", "2.0"}, "2.0"), "3": ({"3", "3.0"}, "3.0"), "3.1": ({"3.1"}, "3.1")}
# Ours carries the request id beside the message (README: where we answer differently).
ERROR_SCHEMA = {"type": "object", "properties": {"message": {"type": "string"},
                                                 "request_id": {"type": "string"}}}
UNDECORATED_SCHEMA = {"type": "object", "example": {}}
TITLE = "ML service"  # azmlinfsrv's default SERVICE_NAME
SERVICE_VERSION = "1.0"  # azmlinfsrv's default SERVICE_VERSION
# azmlinfsrv's templates declare the key scheme as an apiKey header in every version.
SECURITY_SCHEME = {"type": "apiKey", "name": "Authorization", "in": "header",
                   "description": "For example: Bearer abc123"}
HEALTHY = "If service is up and running, this response will be returned with the content 'Healthy'"
SCORED = ("The service processed the input correctly and provided a result prediction, "
          "if applicable.")
FAILED = "The service failed to execute due to an error."


def _paths(version: str) -> dict[str, Any]:
    """The three routes as azmlinfsrv 1.5.1's swagger2/swagger3 templates describe them."""
    v2 = version == "2"
    ref = "#/definitions/" if v2 else "#/components/schemas/"

    def body(media: str, schema: dict) -> dict:
        return {"schema": schema} if v2 else {"content": {media: {"schema": schema}}}

    error = {"description": FAILED, **body("application/json", {"$ref": f"{ref}ErrorResponse"})}
    if v2:
        healthy = {"description": HEALTHY, "schema": {"type": "string"},
                   "examples": {"application/json": "Healthy"}}
        score_input = {"parameters": [{"name": "serviceInputPayload", "in": "body",
                                       "description": "The input payload for executing the real-time "
                                                      "machine learning service.",
                                       "schema": {"$ref": f"{ref}ServiceInput"}}]}
        version_parameter = {"name": "version", "in": "query", "required": False, "type": "integer",
                             "enum": [2, 3]}
    else:
        healthy = {"description": HEALTHY, **body("text/plain", {"type": "string", "example": "Healthy"})}
        score_input = {"requestBody": {"description": "The input payload for executing the real-time "
                                                      "machine learning service.",
                                       "content": {"application/json": {
                                           "schema": {"$ref": f"{ref}ServiceInput"}}}}}
        version_parameter = {"name": "version", "in": "query", "required": False,
                             "schema": {"type": "integer", "enum": [2, 3]}}
    return {
        "/": {"get": {"operationId": "ServiceHealthCheck",
                      "description": "Simple health check endpoint to ensure the service is up at any given point.",
                      "responses": {"200": healthy, "default": error}}},
        "/score": {"post": {"operationId": "RunMLService",
                            "description": "Run web service's model and get the prediction output",
                            "security": [{"Bearer": []}], **score_input,
                            "responses": {"200": {"description": SCORED,
                                                  **body("application/json", {"$ref": f"{ref}ServiceOutput"})},
                                          "default": error}}},
        "/swagger.json": {"get": {"operationId": "GetSwaggerSpec", "description": "Get the Swagger specification.",
                                  "parameters": [version_parameter],
                                  "responses": {"200": {"description": "The Swagger specification.",
                                                        **body("text/plain", {"type": "string"})},
                                                "default": error}}},
    }


def build_document(version: str, title: str, input_schema: dict, output_schema: dict) -> dict[str, Any]:
    """One swagger document for `version` ('2', '3' or '3.1'), laid out as azmlinfsrv's."""
    info = {"title": title, "description": f"API specification for the Azure Machine Learning service {title}",
            "version": SERVICE_VERSION}
    schemas = {"ServiceInput": input_schema, "ServiceOutput": output_schema, "ErrorResponse": ERROR_SCHEMA}
    if version == "2":
        return {"swagger": "2.0", "info": info, "schemes": ["https"], "consumes": ["application/json"],
                "produces": ["application/json"], "securityDefinitions": {"Bearer": SECURITY_SCHEME},
                "paths": _paths(version), "definitions": schemas}
    return {"openapi": "3.1.0" if version == "3.1" else "3.0.3", "info": info, "security": [{"Bearer": []}],
            "paths": _paths(version), "components": {"schemas": schemas,
                                                     "securitySchemes": {"Bearer": SECURITY_SCHEME}}}


class Swagger:
    """The swagger documents of one entry script, built once per worker and served as bytes."""

    def __init__(self, run: Callable, app_root: str) -> None:
        from inference_schema.schema_util import (get_input_schema, get_output_schema,
                                                  get_supported_versions, is_schema_decorated)
        decorated = is_schema_decorated(run)
        supported = set(get_supported_versions(run)) if decorated else {"2.0", "3.0", "3.1"}
        inputs = get_input_schema(run) if decorated else UNDECORATED_SCHEMA
        outputs = get_output_schema(run) if decorated else UNDECORATED_SCHEMA
        self.documents: dict[str, bytes] = {}
        for version, (aliases, schema_name) in VERSIONS.items():
            user_file = self._user_file(app_root, version)
            if user_file is not None:
                document = user_file
            elif schema_name in supported:
                document = build_document(version, TITLE, inputs, outputs)
            else:
                continue
            for alias in aliases:
                self.documents[alias] = json.dumps(document).encode()
        self.supported = sorted(v for v in VERSIONS if v in self.documents)

    @staticmethod
    def _user_file(app_root: str, version: str) -> dict | None:
        names = ["swagger.json", "swagger2.json"] if version == "2" else [f"swagger{version}.json"]
        for name in names:
            path = os.path.join(app_root, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    logger.info("Loaded user's swagger file for version [%s] from %s", version, path)
                    return json.load(handle)
        return None

    def get(self, version: str) -> bytes:
        """The document for ?version=...; NotFound with Azure's messages otherwise."""
        supported = ", ".join(self.supported)
        if not any(version in aliases for aliases, _ in VERSIONS.values()):
            raise NotFound(f"Swagger version [{version}] is not valid. Supported versions: [{supported}].")
        if version not in self.documents:
            raise NotFound(f"Swagger version [{version}] is not supported for the scoring script. "
                           f"Supported swagger versions: [{supported}].")
        return self.documents[version]
