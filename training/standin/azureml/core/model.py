"""azureml.core.model inside an amlocal run: Model.register from the run's own files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._amlocal import AzureObject, runcontext
from .resource_configuration import ResourceConfiguration  # noqa: F401  (Azure re-exports it)


class Model(AzureObject):
    """`Model.register(workspace, model_path, model_name, ...)` inside a run registers the files
    at `model_path` (inside the working directory, as Azure's SDK requires) from this run."""

    advice = ("Register from inside a run with Model.register(...) or run.register_model(...); "
              "read and deploy models from a notebook (amlocal.azureml) or the amlocal CLI.")

    class Framework:
        """Azure ML's framework names."""

        CUSTOM, TENSORFLOW, SCIKITLEARN, ONNX = "Custom", "TensorFlow", "ScikitLearn", "Onnx"
        TFKERAS, PYTORCH, MULTI = "TfKeras", "PyTorch", "Multi"

    @staticmethod
    def register(workspace: Any, model_path: str, model_name: str, tags: dict | None = None,
                 properties: dict | None = None, description: str | None = None,
                 datasets: Any = None, model_framework: str | None = None,
                 model_framework_version: str | None = None, child_paths: Any = None,
                 sample_input_dataset: Any = None, sample_output_dataset: Any = None,
                 resource_configuration: Any = None) -> Any:
        """Upload `model_path` to the run's files (unless it has them) and register them."""
        run = runcontext.AmlocalRun.get_context()
        local = Path(model_path)
        if not local.exists():
            raise FileNotFoundError("Path does not exist")
        relative = os.path.relpath(local.resolve(), Path.cwd().resolve())
        if relative.startswith(".."):
            raise PermissionError("Unauthorized access: Path outside current working directory")
        name = Path(relative).as_posix()
        have = set(run.get_file_names())
        if local.is_dir():
            for file in sorted(p for p in local.rglob("*") if p.is_file()):
                if f"{name}/{file.relative_to(local).as_posix()}" not in have:
                    run.upload_file(f"{name}/{file.relative_to(local).as_posix()}", str(file))
        elif name not in have:
            run.upload_file(name, str(local))
        return run.register_model(model_name, model_path=name, tags=tags, properties=properties,
                                  model_framework=model_framework,
                                  model_framework_version=model_framework_version,
                                  description=description, datasets=datasets,
                                  sample_input_dataset=sample_input_dataset,
                                  sample_output_dataset=sample_output_dataset,
                                  resource_configuration=resource_configuration)


class InferenceConfig(AzureObject):
    """Importable; deployments are made from a notebook or the CLI."""

    advice = "Deploy from a notebook (amlocal.azureml) or with `amlocal deploy`."
