"""No-code scikit-learn entry script: serve the one model file under AZUREML_MODEL_DIR.

Request {"data": [[...], ...], "method": "predict" | "predict_proba"} (method optional, default
"predict"); response {"<method>": [...]}. Rows may be objects keyed by feature name when the model
was fitted with feature names. The input schema (for swagger) comes from the fitted model.

The model file may be written by joblib, pickle or dill (Azure's deployment notebook dumps its model
with dill), as Azure's no-code image, which has dill, loads all three.
"""
import json
import os
import warnings

import joblib
import numpy as np
from inference_schema.parameter_types.abstract_parameter_type import AbstractParameterType
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

from scoring.errors import BadInput

# The rule for the model file, stated once: exactly one file with one of these suffixes, anywhere
# below AZUREML_MODEL_DIR (Azure lays models out as azureml-models/<name>/<version>/...).
MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle")
SAMPLE_FILE = "sample_input.json"
METHODS = ("predict", "predict_proba")
DEFAULT_METHOD = "predict"

# amlocal's scoring server may score the rows of concurrent requests in one call (scoring/
# batching.py), for the methods whose answer for a row does not depend on the rows beside it.
AMLOCAL_BATCH_INPUT = "data"
AMLOCAL_BATCH_ONLY = {"method": ()}
PROBE_ROWS = 16
PROBE_ALONE = 4  # of those scored one by one too: 7 calls in all, once per method and worker

model = None


class ModelFileError(Exception):
    """None or several model files under the model directory."""


def find_model_file(model_dir: str) -> str:
    """The single model file under model_dir; ModelFileError naming what was found otherwise."""
    found = sorted(os.path.join(folder, name) for folder, _, files in os.walk(model_dir)
                   for name in files if name.lower().endswith(MODEL_SUFFIXES))
    if len(found) != 1:
        raise ModelFileError(f"Expected exactly one model file ({', '.join(MODEL_SUFFIXES)}) under "
                             f"AZUREML_MODEL_DIR={model_dir!r}, found {len(found)}: {found}")
    return found[0]


def _allows_nan(estimator) -> bool:
    try:
        from sklearn.utils import get_tags
        return bool(get_tags(estimator).input_tags.allow_nan)
    except (ImportError, AttributeError, TypeError, ValueError):
        return False


class ModelRows(AbstractParameterType):
    """The model's input rows: converted with numpy in one call, checked with precise messages."""

    def __init__(self, n_features, feature_names, sample_row, allow_nan):
        self.n_features = n_features
        self.feature_names = feature_names
        self.allow_nan = allow_nan
        self.swagger = NumpyParameterType(np.array([sample_row], dtype=np.float64))
        super().__init__(self.swagger.sample_input)
        self.sample_data_type = np.ndarray  # the wrapper skips values that are already arrays

    def _by_name(self, rows):
        names = self.feature_names
        if names is None:
            raise ValueError("rows are objects, but the model has no feature names: send lists of numbers")
        out = []
        for index, row in enumerate(rows):
            if isinstance(row, dict):
                missing = [name for name in names if name not in row]
                if missing:
                    raise ValueError(f"row {index} lacks feature(s) {missing}")
                row = [row[name] for name in names]
            out.append(row)
        return out

    def deserialize_input(self, input_data):
        """JSON rows → float64 array of shape (rows, n_features); ValueError says what is wrong."""
        if isinstance(input_data, np.ndarray):
            return input_data
        if not isinstance(input_data, list) or not input_data:
            raise ValueError("expected a non-empty list of rows")
        if isinstance(input_data[0], dict):
            input_data = self._by_name(input_data)
        try:
            array = np.array(input_data, dtype=np.float64)
        except (ValueError, TypeError) as err:
            raise ValueError(f"rows must be lists of {self.n_features} numbers ({err})") from None
        if array.ndim != 2:
            raise ValueError(f"expected a list of rows (2 dimensions), got {array.ndim} dimension(s) "
                             f"[shape {array.shape}]")
        if self.n_features is not None and array.shape[1] != self.n_features:
            raise ValueError(f"each row must have {self.n_features} values, got {array.shape[1]}")
        if not self.allow_nan:
            bad = ~np.isfinite(array)
            if bad.any():
                row, column = (int(i) for i in np.argwhere(bad)[0])
                raise ValueError(f"row {row}, column {column} is null, NaN or Infinity; this model does "
                                 "not accept missing values")
        return array

    def input_to_swagger(self):
        """Same swagger as NumpyParameterType for the sample row."""
        return self.swagger.input_to_swagger()

    def supported_versions(self):
        """The swagger versions of the equivalent NumpyParameterType."""
        return self.swagger.supported_versions()


class MethodName(AbstractParameterType):
    """The estimator method to call: one of those it has."""

    def __init__(self, available):
        self.available = available
        self.swagger = StandardPythonParameterType(DEFAULT_METHOD)
        super().__init__(DEFAULT_METHOD)
        self.sample_data_type = _Method  # never an instance: every value goes through deserialize_input

    def deserialize_input(self, input_data):
        """Return the method name, or ValueError naming the methods the model has."""
        if input_data not in self.available:
            raise ValueError(f"{input_data!r} is not a method of this model; it has: {', '.join(self.available)}")
        return input_data

    def input_to_swagger(self):
        """A string schema with example "predict"."""
        return self.swagger.input_to_swagger()

    def supported_versions(self):
        """All versions (a plain string)."""
        return self.swagger.supported_versions()


class _Method(str):
    """Marker type: no request value is an instance, so the method is always validated."""


def _sample_row(model_path, n_features):
    path = os.path.join(os.path.dirname(model_path), SAMPLE_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            sample = json.load(handle)
        rows = sample.get("data", sample) if isinstance(sample, dict) else sample
        return [float(v) for v in (rows[0] if rows and isinstance(rows[0], list) else rows)]
    return [0.0] * (n_features or 1)


def _answer(data, method=DEFAULT_METHOD):
    try:
        result = getattr(model, method)(data)
    except ValueError as err:
        # The rows passed ModelRows' checks, so this is the estimator refusing their values
        # (a tree model casts to float32: 1e39 is "too large"). The client's input, not a server fault.
        raise BadInput.for_parameter("data", err) from err
    return {method: result.tolist()}


class RowExactMethods:
    """The methods whose answer for each row is the same bytes whether the row is scored alone or
    with others, found on first use by scoring PROBE_ROWS made-up rows together, split 5 + 11,
    and the first PROBE_ALONE of them one by one. A linear model's predict_proba fails it (BLAS rounds a 1-row matrix product
    differently from a many-row one), so it is never batched. A sample, not a proof."""

    def __init__(self, estimator, sample_row, n_features):
        self.estimator, self.sample_row, self.n_features = estimator, sample_row, n_features
        self.known = {}

    def __contains__(self, method):
        if method not in self.known:
            self.known[method] = self._probe(method)
        return self.known[method]

    def _probe(self, method):
        if not self.n_features:
            return False
        sample = np.resize(np.asarray(self.sample_row, dtype=np.float64), self.n_features)
        noise = np.random.default_rng(0).normal(size=(PROBE_ROWS, self.n_features))
        rows = sample + noise * (1.0 + np.abs(sample))
        score = getattr(self.estimator, method)
        try:
            together = json.dumps(score(rows).tolist())
            alone = [score(rows[i:i + 1]).tolist() for i in range(PROBE_ALONE)]
            halves = score(rows[:5]).tolist() + score(rows[5:]).tolist()
        except Exception:  # noqa: BLE001 - made-up rows it refuses, or no array answer: not batched
            return False
        rows_alone = [row for part in alone for row in part]
        return (together == json.dumps(halves)
                and json.dumps(json.loads(together)[:PROBE_ALONE]) == json.dumps(rows_alone))


def load_model(path):
    """Unpickle the model file: joblib reads joblib files, plain pickles and most dill pickles (they
    import dill by name); a dill pickle that needs dill's own unpickler (an object dill saved by
    value, e.g. a class defined in a notebook) is read with dill.load."""
    try:
        return joblib.load(path)
    except Exception as err:  # noqa: BLE001 - any unpickling failure: dill may still read it
        try:
            import dill
        except ImportError:
            raise err from None
        try:
            with open(path, "rb") as handle:
                return dill.load(handle)
        except Exception:  # noqa: BLE001 - not a dill pickle either: joblib's reason is the one to show
            raise err from None


def init():
    """Load the model file and build run() with the model's input schema."""
    global model, run, AMLOCAL_BATCH_ONLY
    path = find_model_file(os.environ.get("AZUREML_MODEL_DIR", "."))
    model = load_model(path)
    n_features = getattr(model, "n_features_in_", None)
    names = getattr(model, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else None
    available = [m for m in METHODS if hasattr(model, m)]
    if names is not None:
        # Rows arrive as arrays once checked against the names; the names are not lost, only unneeded.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
    sample_row = _sample_row(path, n_features)
    rows = ModelRows(n_features, names, sample_row, _allows_nan(model))
    AMLOCAL_BATCH_ONLY = {"method": RowExactMethods(model, sample_row, n_features)}
    run = input_schema("data", rows)(input_schema("method", MethodName(available), optional=True)(
        output_schema(StandardPythonParameterType({"predict": [0]}))(_answer)))


def run(data, method=DEFAULT_METHOD):
    """Replaced by init() with the model-specific, schema-decorated version."""
    raise RuntimeError("init() has not run")
