"""The iris score.py: load model.joblib from AZUREML_MODEL_DIR, answer class predictions."""
import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema

try:  # amlocal's scoring server answers this error with a 400 naming the parameter
    from scoring.errors import BadInput
except ImportError:  # another server (Azure's): a ValueError, which it answers with a 500
    BadInput = None

MODEL_FILE = "model.joblib"
# amlocal's scoring server may score the rows of concurrent requests in one run() call: run()
# answers row by row (Azure's server ignores this name).
AMLOCAL_BATCH_INPUT = "data"
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
    """Predict the iris class of each row (a null, NaN or infinite value is refused: 400)."""
    missing = ~np.isfinite(data)
    if missing.any():
        row, column = (int(i) for i in np.argwhere(missing)[0])
        reason = f"row {row}, column {column} is null, NaN or Infinity; the model takes no missing values"
        if BadInput is None:
            raise ValueError(reason)
        raise BadInput.for_parameter("data", reason)
    return model.predict(data).tolist()
