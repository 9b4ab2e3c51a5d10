"""azureml.core.model: Model (register, get, list, download, deploy) and InferenceConfig."""
from __future__ import annotations

import ast
import os
import re
from typing import Any

from ...client import ClientError, read_source
from .._base import Mirrored, module_getattr, not_mirrored
from ..exceptions import ModelNotFoundException, UserErrorException, WebserviceException
from ._errors import azure_errors
from .resource_configuration import ResourceConfiguration

MODEL_NAME = r"[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}"
MODEL_NAME_ERROR = ("Error, provided model name is invalid. It must only consist of letters, "
                    "numbers, dashes, periods, or underscores, start with a letter or number, and "
                    "be between 1 and 255 characters long.")
NO_CODE = ("Onnx", "ScikitLearn", "TensorFlow", "Multi")


def check_registration(name: str, tags: Any, properties: Any, framework: str | None,
                       framework_version: str | None) -> None:
    """Azure's checks before a registration, with its messages."""
    if not (isinstance(name, str) and re.fullmatch(MODEL_NAME, name)):
        raise WebserviceException(MODEL_NAME_ERROR)
    if tags is not None and not isinstance(tags, dict):
        raise WebserviceException("Tags must be a dict")
    if properties is not None and not isinstance(properties, dict):
        raise WebserviceException("Properties must be a dict")
    if framework_version and not framework:
        raise WebserviceException("Model framework version cannot be provided without a valid "
                                  "framework")


class Model(Mirrored):
    """A registered model version: Model(workspace, name, version=None) fetches it."""

    class Framework:
        CUSTOM = "Custom"
        TENSORFLOW = "TensorFlow"
        SCIKITLEARN = "ScikitLearn"
        ONNX = "Onnx"
        TFKERAS = "TfKeras"
        PYTORCH = "PyTorch"
        MULTI = "Multi"

    def __init__(self, workspace: Any, name: str | None = None, id: str | None = None,
                 tags: Any = None, properties: Any = None, version: int | None = None,
                 run_id: str | None = None, model_framework: str | None = None,
                 expand: bool = True, **kwargs: Any):
        self.workspace = workspace
        data = kwargs.get("_data")
        if data is None:
            data = self._find(workspace, name, id, version, tags, properties, run_id,
                              model_framework)
        self._load(data)

    @staticmethod
    def _find(workspace, name, id, version, tags, properties, run_id, framework) -> dict:
        if not id and not name:
            raise WebserviceException("Error, one of id or name must be provided.")
        if id:
            name, _, version = id.partition(":")
        params: dict[str, Any] = {"name": name}
        if tags:
            params["tag"] = [t if isinstance(t, str) else f"{t[0]}={t[1]}" for t in tags]
        if properties:
            params["property"] = [p if isinstance(p, str) else f"{p[0]}={p[1]}"
                                  for p in properties]
        if run_id:
            params["run_id"] = run_id
        if framework:
            params["framework"] = framework
        try:
            if version and not (tags or properties or run_id or framework):
                return workspace._client.get(f"/models/{name}/versions/{version}")
            found = [m for m in workspace._client.get("/models", params=params)["models"]
                     if not version or str(m["version"]) == str(version)]
        except ClientError as err:
            if err.status not in (400, 404):
                raise WebserviceException(err.message) from err
            found = []
        if not found:
            said = ", ".join(f"{k} {v}" for k, v in (("name", name), ("version", version),
                                                     ("tags", tags), ("properties", properties),
                                                     ("run_id", run_id)) if v)
            raise WebserviceException(f"ModelNotFound: Model with {said} not found in provided "
                                      "workspace")
        return max(found, key=lambda m: m["version"])

    @classmethod
    def _from_dict(cls, workspace: Any, data: dict) -> "Model":
        return cls(workspace, _data=data)

    def _load(self, data: dict) -> None:
        self._data = data
        self.name, self.version, self.id = data["name"], data["version"], data["id"]
        self.tags, self.properties = dict(data.get("tags") or {}), dict(data.get("properties") or {})
        self.description = data.get("description")
        self.created_time = data.get("created_time")
        self.model_framework = data.get("framework")
        self.model_framework_version = data.get("framework_version")
        self.run_id = data.get("run_id")
        self.experiment_name = data.get("experiment")
        self.url = f"{self.workspace._client.url}/models/{self.name}/versions/{self.version}"
        rc = data.get("resource_configuration")
        self.resource_configuration = ResourceConfiguration.deserialize(rc) if rc else None

    # -- registering ------------------------------------------------------------------------------
    @staticmethod
    def register(workspace: Any, model_path: str, model_name: str, tags: dict | None = None,
                 properties: dict | None = None, description: str | None = None,
                 datasets: Any = None, model_framework: str | None = None,
                 model_framework_version: str | None = None, child_paths: Any = None,
                 sample_input_dataset: Any = None, sample_output_dataset: Any = None,
                 resource_configuration: ResourceConfiguration | None = None) -> "Model":
        """Upload a local file or folder as the next version of `model_name`."""
        check_registration(model_name, tags, properties, model_framework, model_framework_version)
        if child_paths:
            raise not_mirrored("Model.register(child_paths=...)", "register the folder")
        if not os.path.exists(model_path):
            raise FileNotFoundError("Path does not exist")
        print(f"Registering model {model_name}")
        with azure_errors(WebserviceException):
            found = workspace._client.register_files(
                model_name, [model_path], framework=model_framework,
                framework_version=model_framework_version, tags=tags, properties=properties,
                description=description,
                resource_configuration=resource_configuration._body()
                if resource_configuration is not None else None)
        return Model._from_dict(workspace, found)

    @staticmethod
    def list(workspace: Any, name: str | None = None, tags: list | None = None,
             properties: list | None = None, run_id: str | None = None, latest: bool = False,
             dataset_id: Any = None, expand: bool = True, page_count: int = 255,
             model_framework: str | None = None) -> list:
        if tags is not None and not isinstance(tags, list):
            raise WebserviceException("Tags must be a list")
        params: dict[str, Any] = {"latest": str(latest).lower()}
        for key, value in (("name", name), ("run_id", run_id), ("framework", model_framework)):
            if value:
                params[key] = value
        params["tag"] = [t if isinstance(t, str) else f"{t[0]}={t[1]}" for t in tags or []]
        params["property"] = [p if isinstance(p, str) else f"{p[0]}={p[1]}"
                              for p in properties or []]
        with azure_errors(WebserviceException):
            found = workspace._client.get("/models", params=params)["models"]
        return [Model._from_dict(workspace, m) for m in found]

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Any = None) -> str:
        """In a scoring container: the model under AZUREML_MODEL_DIR; else ./<model_name>."""
        root = os.environ.get("AZUREML_MODEL_DIR")
        candidates = []
        if root:
            base = os.path.dirname(os.path.dirname(root.rstrip("/"))) \
                if os.path.basename(os.path.dirname(root.rstrip("/"))) == model_name else root
            folder = os.path.join(base, model_name)
            if os.path.isdir(folder):
                versions = sorted((v for v in os.listdir(folder) if v.isdigit()), key=int)
                chosen = str(version) if version else (versions[-1] if versions else None)
                if chosen:
                    candidates.append(os.path.join(folder, chosen))
        for candidate in candidates:
            entries = os.listdir(candidate) if os.path.isdir(candidate) else []
            if len(entries) == 1:
                return os.path.join(candidate, entries[0])
            if entries:
                return candidate
        if os.path.exists(model_name):
            return model_name
        raise ModelNotFoundException(f"Model {model_name} not found in cache at "
                                     f"{root or 'azureml-models'} or in current working "
                                     "directory " + os.getcwd())

    # -- using a version --------------------------------------------------------------------------
    def download(self, target_dir: str = ".", exist_ok: bool = False,
                 exists_ok: bool | None = None) -> str:
        exist_ok = exists_ok if exists_ok is not None else exist_ok
        files = self._data.get("files") or []
        paths = [f["path"] for f in files]
        os.makedirs(target_dir, exist_ok=True)
        if len(paths) == 1 and "/" not in paths[0]:
            target = os.path.join(target_dir, paths[0])
            if os.path.exists(target) and not exist_ok:
                raise WebserviceException(f"File already exists. To overwrite, set exist_ok to "
                                          f"True. {target}")
            with azure_errors(WebserviceException):
                self.workspace._client.download_model(self.name, self.version, target)
            return target
        raise not_mirrored("Model.download of a folder model", "`amlocal model download` saves "
                           "a folder model as a zip")

    def add_tags(self, tags: dict) -> None:
        self._patch("tags", {"add": {k: str(v) for k, v in tags.items()}})

    def remove_tags(self, tags: list) -> None:
        self._patch("tags", {"remove": list(tags)})

    def add_properties(self, properties: dict) -> None:
        self._patch("properties", {"add": {k: str(v) for k, v in properties.items()}})

    def _patch(self, what: str, body: dict) -> None:
        with azure_errors(WebserviceException):
            found = self.workspace._client.request(
                "PATCH", f"/models/{self.name}/versions/{self.version}/{what}", json=body).json()
        self._load(found)

    def delete(self) -> None:
        with azure_errors(WebserviceException):
            self.workspace._client.request("DELETE", f"/models/{self.name}/versions/{self.version}")

    def serialize(self) -> dict:
        rc = self.resource_configuration
        return {"createdTime": self.created_time, "createdBy": None,
                "description": self.description, "id": self.id, "mimeType": None,
                "name": self.name, "framework": self.model_framework,
                "frameworkVersion": self.model_framework_version, "tags": self.tags,
                "properties": self.properties, "unpack": False, "url": self.url,
                "version": self.version, "experimentName": self.experiment_name,
                "runId": self.run_id, "runDetails": None, "datasets": {},
                "resourceConfiguration": rc.serialize() if rc else None,
                "sampleInputDatasetId": None, "sampleOutputDatasetId": None}

    # -- deploying --------------------------------------------------------------------------------
    @staticmethod
    def deploy(workspace: Any, name: str, models: list, inference_config: Any = None,
               deployment_config: Any = None, deployment_target: Any = None,
               overwrite: bool = False, show_output: bool = False):
        """No-code (one scikit-learn model) or with an InferenceConfig; returns the Webservice
        at once (wait_for_deployment waits)."""
        from .webservice import Webservice, check_service_name, deployment_body
        check_service_name(name)
        if deployment_target is not None:
            raise not_mirrored("Model.deploy(deployment_target=...)", "AKS and attached targets "
                               "are Azure's; deploy with LocalWebservice or AciWebservice "
                               "deployment configurations")
        if inference_config is None:
            if len(models) != 1:
                raise UserErrorException("You must provide an InferenceConfig when deploying "
                                         "zero or multiple models.")
            if models[0].model_framework not in NO_CODE:
                raise UserErrorException(
                    "You must provide an InferenceConfig when deploying a model with "
                    f"model_framework set to {models[0].model_framework}. Default environments "
                    f"are only provided for these frameworks: {list(NO_CODE)}.")
        body = deployment_body(name, models, inference_config, deployment_config)
        body["overwrite"] = overwrite
        with azure_errors(WebserviceException):
            found = workspace._client.post("/deployments", json=body)
        service = Webservice._from_dict(workspace, found)
        service._deployment_config, service._inference_config = deployment_config, inference_config
        if show_output:
            service.wait_for_deployment(show_output=True)
        return service

    def __repr__(self) -> str:
        return ("{}(workspace={}, name={}, id={}, version={}, tags={}, properties={})".format(
            type(self).__name__, repr(self.workspace), self.name, self.id, self.version,
            self.tags, self.properties))


class InferenceConfig(Mirrored):
    """InferenceConfig(entry_script, source_directory=None, environment=None, ...)."""

    def __init__(self, entry_script: str | None = None, runtime: str | None = None,
                 conda_file: str | None = None, extra_docker_file_steps: str | None = None,
                 source_directory: str | None = None, enable_gpu: bool | None = None,
                 description: str | None = None, base_image: str | None = None,
                 base_image_registry: Any = None, cuda_version: str | None = None,
                 environment: Any = None):
        if not entry_script:
            raise UserErrorException("Error, need to specify entry_script.")
        legacy = {"runtime": runtime, "conda_file": conda_file, "enable_gpu": enable_gpu,
                  "extra_docker_file_steps": extra_docker_file_steps, "base_image": base_image,
                  "cuda_version": cuda_version}
        if environment is not None and any(v is not None for v in legacy.values()):
            raise UserErrorException("Error, both environment and {} are provided. Please only "
                                     "provide environment.".format(
                                         [k for k, v in legacy.items() if v is not None]))
        if conda_file is not None:
            from .environment import Environment
            environment = Environment.from_conda_specification("inference-environment",
                                                               conda_file)
        self.entry_script, self.source_directory = entry_script, source_directory
        self.environment, self.description = environment, description
        self.runtime, self.conda_file, self.enable_gpu = runtime, conda_file, enable_gpu
        self.extra_docker_file_steps, self.base_image = extra_docker_file_steps, base_image
        self.base_image_registry, self.cuda_version = base_image_registry, cuda_version
        self._check_entry_script()

    def _script_path(self) -> str:
        return os.path.join(self.source_directory or "", self.entry_script)

    def _check_entry_script(self) -> None:
        path = self._script_path()
        if not path.endswith(".py"):
            raise UserErrorException("Invalid driver type. Currently only Python drivers are "
                                     "supported.")
        module = os.path.splitext(os.path.basename(path))[0]
        if not module.isidentifier():
            raise UserErrorException(
                f'Error, invalid name "{module}" for provided entry script. The script must be '
                "importable as a valid python module, and its name may only consist of letters, "
                "numbers, or underscores, start with a letter or underscore.")
        if not os.path.isfile(path):
            raise UserErrorException(f"Error, provided entry_script {path} does not exist.")
        try:
            with open(path, encoding="utf-8") as fh:
                ast.parse(fh.read())
        except SyntaxError as err:
            raise UserErrorException(f"{err}. Please check it and try local deployment to "
                                     "verify.") from err

    def _body(self) -> dict:
        """As POST /deployments takes it: the script's folder (or the script alone) inline."""
        self._check_entry_script()
        if self.source_directory:
            try:
                files = read_source(self.source_directory, self.entry_script)
            except ClientError as err:
                raise UserErrorException(err.message) from err
        else:
            with open(self.entry_script, encoding="utf-8") as fh:
                files = {os.path.basename(self.entry_script): fh.read()}
        body: dict[str, Any] = {"entry_script": self.entry_script if self.source_directory
                                else os.path.basename(self.entry_script),
                                "source": {"files": files}}
        if self.environment is not None:
            body["environment"] = self.environment._reference()
        return body

    def __repr__(self) -> str:
        return ("{}(entry_script={}, runtime={}, conda_file={}, extra_docker_file_steps={}, "
                "source_directory={}, enable_gpu={}, base_image={}, base_image_registry={})"
                .format(type(self).__name__, self.entry_script, self.runtime, self.conda_file,
                        self.extra_docker_file_steps, self.source_directory, self.enable_gpu,
                        self.base_image, self.base_image_registry))


__getattr__ = module_getattr(__name__)
