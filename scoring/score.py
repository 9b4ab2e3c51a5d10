"""The iris score.py: load model.joblib from AZUREML_MODEL_DIR, answer class predictions."""
import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema

MODEL_FILE = "model.joblib"
model = None


def find_model(model_dir: str) -> str:
    """The path of model.joblib in model_dir or below it (Azure nests azureml-models/<name>/<version>)."""
    for folder, _, files in sorted(os.walk(model_dir)):
        if MODEL_FILE in files:
            return os.path.join(folder, MODEL_FILE)
    raise FileNotFoundError(f"No {MODEL_FILE} under AZUREML_MODEL_DIR={model_dir!r}")


def init() -> None:
    """Load the model once per worker."""
    global model
    model = joblib.load(find_model(os.environ.get("AZUREML_MODEL_DIR", ".")))


@input_schema("data", NumpyParameterType(np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float64)))
@output_schema(NumpyParameterType(np.array([0])))
def run(data):
    """Predict the iris class of each row."""
    return model.predict(data).tolist()
