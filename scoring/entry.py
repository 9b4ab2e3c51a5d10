"""Load a score.py by path, check its init()/run(), and invoke them, timing each call."""
from __future__ import annotations

import importlib.util
import inspect
import sys
import time
from typing import Any, Callable, Mapping

import numpy as np

from . import contrib_services
from .deadline import Deadline, deadline
from .errors import BadInput, RunFailed, RunTimeout, ScoringError, StartupError
from .logs import logger

HEADERS_PARAMETER = "request_headers"


def _schema_converters(run: Callable) -> dict[str, Callable[[Any], Any]]:
    """The inference-schema parameter types of a decorated run(), as converters by parameter name.

    inference-schema converts inside its wrapper, where a bad value is indistinguishable from an
    error of run() itself; converting first lets the server answer 400 naming the parameter.
    The types are read from the decorators' closures; an unknown layout just means no pre-check.
    """
    converters: dict[str, Callable[[Any], Any]] = {}
    layer = run
    while hasattr(layer, "_self_wrapper"):
        try:
            nonlocals = inspect.getclosurevars(layer._self_wrapper).nonlocals
        except (TypeError, ValueError):
            nonlocals = {}
        param_type = nonlocals.get("param_type")
        if "param_name" in nonlocals and param_type is not None and nonlocals.get(
                "convert_to_provided_type", True) and param_type.sample_data_type not in (dict, list, tuple):
            convert = converters[nonlocals["param_name"]] = _converter(param_type)
            convert.param_type = param_type  # type: ignore[attr-defined]  # read by batching
        layer = layer.__wrapped__
    return converters


def _converter(param_type: Any) -> Callable[[Any], Any]:
    """Convert like param_type.deserialize_input, with a numpy fast path for plain numeric arrays."""
    sample = getattr(param_type, "sample_input", None)
    numeric = (type(param_type).__name__ == "NumpyParameterType" and isinstance(sample, np.ndarray)
               and sample.dtype.kind in "biuf" and getattr(param_type, "enforce_column_type", False)
               and getattr(param_type, "enforce_shape", False))
    if not numeric:
        target = param_type.sample_data_type
        return lambda value: value if isinstance(value, target) else param_type.deserialize_input(value)
    dtype, expected = sample.dtype, sample.shape

    def convert_numpy(value: Any) -> Any:
        # Same checks and messages as NumpyParameterType, without its per-row Python walk.
        if not isinstance(value, list):
            raise ValueError("Invalid input format: expected an array of items.")
        array = np.array(value, dtype=dtype)
        if array.ndim != len(expected):
            raise ValueError(f"Invalid input array: an array with {len(expected)} dimensions is expected; "
                             f"input has {array.ndim} [shape {array.shape}]")
        for dim in range(1, len(expected)):
            if array.shape[dim] != expected[dim]:
                raise ValueError(f"Invalid input array: array has size {array.shape[dim]} on dimension "
                                 f"#{dim}, while expected value is {expected[dim]}")
        return array
    return convert_numpy


class EntryScript:
    """A user's score.py: loaded once per worker, run() called per request."""

    def __init__(self, path: str, module_name: str = "entry_module") -> None:
        # Azure imports the script as "entry_module"; inference-schema keys its registry by module
        # and function name, so two scripts in one process (tests) need different names.
        self.path = path
        self.module_name = module_name
        self.decorated = False
        self.raw = False  # @rawhttp: run() gets the HTTP request itself
        self.parameters: list[inspect.Parameter] = []
        self.wants_headers = False
        self.converters: dict[str, Callable[[Any], Any]] = {}
        self.ready = False
        self._run: Callable[..., Any] = lambda **kwargs: None
        self._init: Callable[[], Any] = lambda: None
        self._module: Any = None

    def load(self) -> None:
        """Import the script and check init()/run(); raise StartupError naming what is wrong."""
        # Azure's score.py files import AMLRequest/AMLResponse from azureml.contrib.services.
        contrib_services.install()
        contrib_services.reset_rawhttp()
        try:
            spec = importlib.util.spec_from_file_location(self.module_name, self.path)
            if spec is None or spec.loader is None:
                raise StartupError(f"Entry script {self.path} cannot be imported as Python")
            module = importlib.util.module_from_spec(spec)
            sys.modules[self.module_name] = module
            spec.loader.exec_module(module)
        except StartupError:
            raise
        except BaseException as err:  # a script may even call sys.exit(); the server must report it
            raise StartupError(f"Failed to import entry script {self.path}: {err!r}") from err
        for name in ("init", "run"):
            if not callable(getattr(module, name, None)):
                raise StartupError(f"User script at {self.path} does not have a {name}() function defined.")
        self._module = module
        self._init, self._run = module.init, module.run
        self._analyse_run()

    def _analyse_run(self) -> None:
        params = list(inspect.signature(self._run).parameters.values())
        usable = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        if any(p.kind not in usable for p in params):
            raise StartupError("run() cannot accept positional-only arguments, *args, or **kwargs.")
        self.wants_headers = any(p.name == HEADERS_PARAMETER for p in params)
        self.parameters = [p for p in params if p.name != HEADERS_PARAMETER]
        if not self.parameters:
            raise StartupError('run() needs to accept an argument other than "request_headers".'
                               if self.wants_headers else "run() needs to accept an argument for input data.")
        from inference_schema.schema_util import is_schema_decorated
        self.decorated = is_schema_decorated(self._run)
        self.raw = contrib_services.rawhttp_requested()
        if self.raw and self.decorated:
            raise StartupError("run() cannot be decorated with both @rawhttp and @input_schema")
        self.converters = _schema_converters(self._run) if self.decorated else {}

    def marker(self, name: str, default: Any = None) -> Any:
        """A module-level name of the script (e.g. AMLOCAL_BATCH_INPUT), read after init()."""
        return getattr(self._module, name, default)

    @property
    def run_function(self) -> Callable[..., Any]:
        """The user's run() (for swagger generation)."""
        return self._run

    def invoke_init(self) -> float:
        """Call init() once; return its duration in ms. Raise StartupError if it raises."""
        start = time.perf_counter()
        try:
            self._init()
        except BaseException as err:
            raise StartupError(f"User's init function failed: {err!r}") from err
        if self._module is not None and self._module.run is not self._run:
            # init() may install a run() that needs the model (the no-code script builds its schema so).
            self._run = self._module.run
            self._analyse_run()
        if self.raw:
            logger.info("run() is decorated with @rawhttp. Server will invoke it with the flask request object.")
        elif self.decorated:
            logger.info("run() is decorated with @input_schema. Server will invoke it with the following "
                        "arguments: %s.", ", ".join(p.name for p in self.parameters))
        else:
            logger.info("run() is not decorated. Server will invoke it with the input in JSON string.")
        self.ready = True
        return (time.perf_counter() - start) * 1000

    def convert(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Convert decorated parameters by their inference-schema types; BadInput names the one that fails."""
        for name, convert in self.converters.items():
            if name in arguments:
                try:
                    arguments[name] = convert(arguments[name])
                except (ValueError, TypeError, OverflowError, KeyError, IndexError) as err:
                    raise BadInput.for_parameter(name, err) from err
        return arguments

    def invoke_run(self, arguments: dict[str, Any], headers: Callable[[], Mapping[str, str]],
                   timeout_ms: int) -> tuple[Any, float]:
        """Call run(**arguments) under the timeout; return (result, elapsed ms)."""
        if self.wants_headers:
            arguments[HEADERS_PARAMETER] = dict(headers())
        start = time.perf_counter()
        try:
            with deadline(timeout_ms):
                result = self._run(**arguments)
        except Deadline as err:
            raise RunTimeout(timeout_ms) from err
        except ScoringError:  # run() answers with one of our errors itself (the no-code entry's 400s)
            raise
        except Exception as err:
            raise RunFailed() from err
        return result, (time.perf_counter() - start) * 1000
