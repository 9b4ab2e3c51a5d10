"""azureml.core.webservice: Webservice, LocalWebservice, AciWebservice on amlocal's targets.

LocalWebservice → amlocal's `local` target (a scoring process on 127.0.0.1, no Docker; pass
`amlocal_target="docker"` to run Azure's way, in a container); AciWebservice → the `aci` target
(a real ACI through the service's Azure credentials). Model.deploy without a deployment
configuration deploys to `local` (Azure would pick ACI).
"""
from __future__ import annotations

import re
import sys
import time
from typing import Any

import requests

from ..._base import Mirrored, module_getattr, not_mirrored
from ...exceptions import WebserviceException
from .._errors import azure_errors

SERVICE_NAME = r"[a-z]([-a-z0-9]*[a-z0-9])?"
SERVICE_NAME_ERROR = ("Error, provided service name is invalid. It must only consist of lowercase "
                      "letters, numbers, or dashes, start with a letter, end with a letter or "
                      "number, and be between 3 and 32 characters long.")
SETTLED = ("Healthy", "Failed", "Unhealthy")
POLL_S = 0.2
TIPS = ("Tips: You can try get_logs(): https://aka.ms/debugimage#dockerlog or local deployment: "
        "https://aka.ms/debugimage#debug-locally to debug if deployment takes longer than 10 "
        "minutes.")


def check_service_name(name: str) -> None:
    if not (isinstance(name, str) and 3 <= len(name) <= 32 and re.fullmatch(SERVICE_NAME, name)):
        raise WebserviceException(SERVICE_NAME_ERROR)


def deployment_body(name: str, models: list, inference_config: Any, deployment_config: Any) -> dict:
    """POST /deployments's body from the SDK's objects."""
    body: dict[str, Any] = {"name": name, "models": [m.id for m in models],
                            "deployment_config": (deployment_config._body()
                                                  if deployment_config is not None
                                                  else {"target": "local"})}
    if inference_config is not None:
        body["inference_config"] = inference_config._body()
    return body


class WebserviceDeploymentConfiguration(Mirrored):
    target = "local"

    def _body(self) -> dict:
        raise NotImplementedError


class LocalWebserviceDeploymentConfiguration(WebserviceDeploymentConfiguration):
    def __init__(self, port: int | None = None, amlocal_target: str = "local",
                 amlocal_max_batch_rows: int | None = None, amlocal_max_latency_ms: int | None = None):
        if port is not None and not (isinstance(port, int) and 1 <= port <= 65535):
            raise WebserviceException("Invalid configuration, port must be an integer in range "
                                      "[1, 65535]")
        if amlocal_target not in ("local", "docker"):
            raise WebserviceException("amlocal_target must be 'local' or 'docker'")
        for name, value in (("amlocal_max_batch_rows", amlocal_max_batch_rows),
                            ("amlocal_max_latency_ms", amlocal_max_latency_ms)):
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise WebserviceException(f"Invalid configuration, {name} must be a positive integer.")
        self.port, self.target = port, amlocal_target
        # The scoring server's micro-batching knobs (amlocal's own; Azure's server does not batch).
        self.max_batch_rows, self.max_latency_ms = amlocal_max_batch_rows, amlocal_max_latency_ms

    def _body(self) -> dict:
        knobs = {"port": self.port, "max_batch_rows": self.max_batch_rows, "max_latency_ms": self.max_latency_ms}
        return {"target": self.target, **{key: value for key, value in knobs.items() if value is not None}}


class AciServiceDeploymentConfiguration(WebserviceDeploymentConfiguration):
    target = "aci"

    def __init__(self, cpu_cores: float | None = None, memory_gb: float | None = None,
                 tags: dict | None = None, properties: dict | None = None,
                 description: str | None = None, auth_enabled: bool | None = None, **kwargs: Any):
        if cpu_cores is not None and cpu_cores <= 0:
            raise WebserviceException("Invalid configuration, cpu_cores must be positive.")
        if memory_gb is not None and memory_gb <= 0:
            raise WebserviceException("Invalid configuration, memory_gb must be positive.")
        unsupported = sorted(k for k, v in kwargs.items() if v not in (None, False))
        if unsupported:
            raise not_mirrored(f"AciWebservice.deploy_configuration({', '.join(unsupported)})",
                               "amlocal's aci target takes cpu_cores, memory_gb and auth_enabled")
        self.cpu_cores, self.memory_gb, self.auth_enabled = cpu_cores, memory_gb, auth_enabled
        self.tags, self.properties, self.description = tags, properties, description

    def _body(self) -> dict:
        body: dict[str, Any] = {"target": "aci", "auth_enabled": bool(self.auth_enabled)}
        for key in ("cpu_cores", "memory_gb"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        return body


class Webservice(Mirrored):
    """A deployment of the workspace: Webservice(workspace, name) fetches it."""

    _expected_compute_type: str | None = None

    def __new__(cls, workspace: Any = None, name: str | None = None, **kwargs: Any):
        if cls is Webservice and workspace is not None and name is not None:
            with azure_errors(WebserviceException):
                data = kwargs.get("_data") or workspace._client.get(f"/deployments/{name}")
            kind = LocalWebservice if data.get("compute_type") == "Local" else AciWebservice
            service = super().__new__(kind)
            service._fetched = data  # __init__ runs next with the same arguments
            return service
        return super().__new__(cls)

    def __init__(self, workspace: Any, name: str, **kwargs: Any):
        self.workspace, self.name = workspace, name
        data = kwargs.get("_data") or self.__dict__.pop("_fetched", None)
        if data is None:
            with azure_errors(WebserviceException):
                data = workspace._client.get(f"/deployments/{name}")
        self._deployment_config = self._inference_config = None
        self._load(data)

    @classmethod
    def _from_dict(cls, workspace: Any, data: dict) -> "Webservice":
        return Webservice(workspace, data["name"], _data=data)

    def _load(self, data: dict) -> None:
        self._data = data
        self.state, self.compute_type = data["state"], data.get("compute_type")
        self.scoring_uri, self.swagger_uri = data.get("scoring_uri"), data.get("swagger_uri")
        self.auth_enabled, self.error = data.get("auth_enabled", False), data.get("error")
        self.port = data.get("port")
        self.created_time, self.updated_time = data.get("created_time"), data.get("updated_time")
        self.tags, self.properties, self.description = {}, {}, None
        self.image_id = self.image_digest = self.created_by = None
        self.token_auth_enabled = False
        self.models = data.get("models")

    def _client(self):
        return self.workspace._client

    def update_deployment_state(self) -> None:
        with azure_errors(WebserviceException):
            self._load(self._client().get(f"/deployments/{self.name}"))

    # -- waiting ----------------------------------------------------------------------------------
    def wait_for_deployment(self, show_output: bool = False, timeout_sec: float | None = None):
        """Poll until the latest generation serves, or the deployment failed."""
        generation = self._data.get("generation")
        deadline = time.monotonic() + (timeout_sec or 900)
        if show_output:
            print(TIPS)
        while True:
            self.update_deployment_state()
            served = self._data.get("served_generation") == generation
            if (self.state == "Healthy" and served) or \
                    (self.state in SETTLED and self.state != "Healthy"):
                break
            if time.monotonic() > deadline:
                raise WebserviceException(
                    f"Deployment polling exceeded timeout override of {timeout_sec}s. Current "
                    f"status: {self.state}")
            if show_output:
                print(".", end="", flush=True)
            time.sleep(POLL_S)
        if show_output:
            print()
        if self.state != "Healthy":
            raise WebserviceException(self._failure_message())
        self._announce(show_output)

    def _failure_message(self) -> str:
        return ("Service deployment polling reached non-successful terminal state, current "
                f"service state: {self.state}\nOperation ID: {self.name}:"
                f"{self._data.get('generation')}\nMore information can be found using "
                f"'.get_logs()'\nError:\n{{\n  \"message\": {self.error!r}\n}}")

    def _announce(self, show_output: bool) -> None:
        if show_output:
            print(f"{self.compute_type} service creation operation finished, operation "
                  '"Succeeded"')

    # -- scoring ----------------------------------------------------------------------------------
    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.auth_enabled:
            headers["Authorization"] = f"Bearer {self.get_keys()[0]}"
        return headers

    def run(self, input_data: Any) -> Any:
        """POST the input (a JSON string, as the SDK takes it) to the scoring URI."""
        if not self.scoring_uri:
            self.update_deployment_state()
        if not self.scoring_uri:
            raise WebserviceException("Error attempting to call webservice, scoring_uri "
                                      f"unavailable. This could be due to a failed deployment, "
                                      f"or the service is not ready yet.\nCurrent State: "
                                      f"{self.state}\nErrors: {self.error}")
        try:
            resp = requests.post(self.scoring_uri, data=input_data, headers=self._headers(),
                                 timeout=300)
        except requests.RequestException as err:
            raise WebserviceException(f"Received bad response from service: {err}") from err
        if resp.status_code == 200:
            return resp.json()
        raise WebserviceException(self._bad_response(resp), status_code=resp.status_code)

    def _bad_response(self, resp: requests.Response) -> str:
        return ("Received bad response from service. More information can be found by calling "
                "`.get_logs()` on the webservice object.\n"
                f"Response Code: {resp.status_code}\nHeaders: {resp.headers}\n"
                f"Content: {resp.content}")

    # -- managing ---------------------------------------------------------------------------------
    def get_logs(self, num_lines: int = 5000, init: bool = False) -> str:
        with azure_errors(WebserviceException):
            return self._client().request("GET", f"/deployments/{self.name}/logs",
                                          params={"lines": num_lines}).text

    def get_keys(self) -> tuple[str, str]:
        with azure_errors(WebserviceException):
            keys = self._client().get(f"/deployments/{self.name}/keys")
        return keys["primary_key"], keys["secondary_key"]

    def regen_key(self, key: str, set_key: str | None = None) -> None:
        if not isinstance(key, str) or key.lower() not in ("primary", "secondary"):
            raise WebserviceException(f"Error, invalid value provided for key: {key}.\n"
                                      "Valid options are: Primary, Secondary")
        if set_key is not None:
            raise not_mirrored("regen_key(set_key=...)", "amlocal generates the new key")
        with azure_errors(WebserviceException):
            self._client().post(f"/deployments/{self.name}/keys/regenerate",
                                json={"key": key.capitalize()})

    def get_token(self) -> Any:
        raise not_mirrored("Webservice.get_token (AKS token auth)", "use key auth: get_keys()")

    def update(self, models: list | None = None, inference_config: Any = None,
               auth_enabled: bool | None = None, deployment_config: Any = None,
               wait: bool = False, **kwargs: Any) -> None:
        """A new generation with these models / this entry script, served without a drop."""
        given = {k for k, v in kwargs.items() if v is not None}
        if given:
            raise not_mirrored(f"Webservice.update({', '.join(sorted(given))})",
                               "amlocal updates models, inference_config and auth_enabled")
        body: dict[str, Any] = {}
        if models is not None:
            body["models"] = [m.id for m in models]
        if inference_config is not None:
            body["inference_config"] = inference_config._body()
            self._inference_config = inference_config
        if auth_enabled is not None:
            body["auth_enabled"] = auth_enabled
        if not body:
            raise WebserviceException("No parameters provided to update.")
        with azure_errors(WebserviceException):
            self._load(self._client().request("PATCH", f"/deployments/{self.name}",
                                              json=body).json())
        self.wait_for_deployment()

    def delete(self) -> None:
        with azure_errors(WebserviceException):
            self._client().request("DELETE", f"/deployments/{self.name}", timeout=180)
        self.state = "Deleting"

    def serialize(self) -> dict:
        return {"name": self.name, "description": self.description, "tags": self.tags,
                "properties": self.properties, "state": self.state,
                "createdTime": self.created_time, "updatedTime": self.updated_time,
                "error": self.error, "computeType": self.compute_type,
                "workspaceName": self.workspace.name, "imageId": None, "imageDigest": None,
                "imageDetails": None, "scoringUri": self.scoring_uri, "createdBy": None}

    @staticmethod
    def list(workspace: Any, compute_type: str | None = None, **_kwargs: Any) -> list:
        return [s for s in workspace.webservices.values()
                if compute_type in (None, s.compute_type)]

    def __repr__(self) -> str:
        return ("{}(workspace={}, name={}, image_id={}, image_digest={}, compute_type={}, "
                "state={}, scoring_uri={}, tags={}, properties={}, created_by={})".format(
                    type(self).__name__, repr(self.workspace), self.name, self.image_id,
                    self.image_digest, self.compute_type, self.state, self.scoring_uri,
                    self.tags, self.properties, self.created_by))


class LocalWebservice(Webservice):
    """Azure's local Docker deployment, here amlocal's local (or docker) target."""

    @staticmethod
    def deploy_configuration(port: int | None = None, amlocal_target: str = "local",
                             amlocal_max_batch_rows: int | None = None,
                             amlocal_max_latency_ms: int | None = None
                             ) -> LocalWebserviceDeploymentConfiguration:
        return LocalWebserviceDeploymentConfiguration(port, amlocal_target, amlocal_max_batch_rows,
                                                      amlocal_max_latency_ms)

    def _announce(self, show_output: bool) -> None:
        print(f"Local webservice is running at http://localhost:{self.port}")

    def _failure_message(self) -> str:
        return f"Error: Container has crashed. Did your init method fail?\n{self.error or ''}"

    def _bad_response(self, resp: requests.Response) -> str:
        return "Error: Scoring was unsuccessful."

    def reload(self, wait: bool = False) -> None:
        """Serve the entry script as it is on disk now (same models and environment)."""
        if self._inference_config is None:
            raise WebserviceException("Cannot call reload() when service has no entry script.")
        self.update(inference_config=self._inference_config)

    def update(self, models: list | None = None, image_config: Any = None,
               deployment_config: Any = None, wait: bool = False,
               inference_config: Any = None) -> None:
        if image_config is not None:
            raise not_mirrored("LocalWebservice.update(image_config=...)", "give inference_config")
        if getattr(deployment_config, "port", None) not in (None, self.port):
            raise not_mirrored("LocalWebservice.update with another port", "delete and deploy "
                               "again")
        super().update(models=models, inference_config=inference_config)

    def get_keys(self) -> tuple[str, str]:
        raise NotImplementedError("Local web services do not support auth keys.")

    def regen_key(self, key: str, set_key: str | None = None) -> None:
        raise NotImplementedError("Local web services do not support auth keys.")

    def deploy_to_cloud(self, name: str | None = None, deployment_config: Any = None,
                        deployment_target: Any = None) -> Any:
        raise not_mirrored("LocalWebservice.deploy_to_cloud", "deploy the same models and "
                           "InferenceConfig with AciWebservice.deploy_configuration(...)")

    def serialize(self) -> dict:
        return {**super().serialize(), "swaggerUri": self.swagger_uri, "port": self.port}


class AciWebservice(Webservice):
    @staticmethod
    def deploy_configuration(cpu_cores: float | None = None, memory_gb: float | None = None,
                             tags: dict | None = None, properties: dict | None = None,
                             description: str | None = None, location: str | None = None,
                             auth_enabled: bool | None = None, ssl_enabled: bool | None = None,
                             enable_app_insights: bool | None = None, **kwargs: Any
                             ) -> AciServiceDeploymentConfiguration:
        return AciServiceDeploymentConfiguration(
            cpu_cores, memory_gb, tags, properties, description, auth_enabled,
            location=location, ssl_enabled=ssl_enabled, enable_app_insights=enable_app_insights,
            **kwargs)


class AksWebservice(Webservice):
    @staticmethod
    def deploy_configuration(*args: Any, **kwargs: Any) -> Any:
        raise not_mirrored("AksWebservice", "deploy with LocalWebservice (amlocal's local or "
                           "docker target) or AciWebservice")


__getattr__ = module_getattr(__name__)
