"""Azure ML's parameter expressions: the JSON `[name, [args]]` form, a CLI text form, validation.

Messages follow azureml-train-core's `parameter_expressions` ("{obj} expects {condition}",
"Please specify an input for choice."); every error names the hyperparameter as its field.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any

from training.sweeps.errors import SweepConfigError

ARG_NAMES: dict[str, tuple[str, ...]] = {
    "choice": ("options",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "loguniform": ("min_value", "max_value"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
}
FINITE_KINDS = frozenset({"choice", "randint", "quniform", "qloguniform"})
# exp() of anything above this overflows a float; Azure would fail later, we say so up front.
_MAX_LOG_BOUND = 700.0

Value = str | int | float


@dataclass(frozen=True)
class Expression:
    """One validated parameter expression; `args` are the options (choice) or the numbers."""

    kind: str
    args: tuple

    def to_json(self) -> list:
        """Azure's encoding: `["choice", [[a, b]]]`, `["uniform", [lo, hi]]`, ..."""
        if self.kind == "choice":
            return ["choice", [list(self.args)]]
        return [self.kind, list(self.args)]

    @property
    def finite(self) -> bool:
        """Whether the expression takes finitely many values (so sweeps can exhaust it)."""
        return self.kind in FINITE_KINDS

    @property
    def size(self) -> int:
        """How many distinct values a finite expression takes."""
        return len(self._grid())

    def value_at(self, i: int) -> Value:
        """The i-th value of a finite expression, in a stable order."""
        if self.kind in ("choice", "randint"):
            return self._grid()[i]
        return self._grid()[i] * self.args[-1]

    def _grid(self) -> range | tuple:
        # Quantized kinds are round(x / q) * q, so their values are the multiples k*q whose k is
        # reachable by rounding a value of the underlying range (endpoints included).
        if self.kind == "choice":
            return self.args
        if self.kind == "randint":
            return range(self.args[0])
        lo, hi, q = self.args
        if self.kind == "qloguniform":
            lo, hi = math.exp(lo), math.exp(hi)
        if self.kind in ("quniform", "qloguniform"):
            return range(round(lo / q), round(hi / q) + 1)
        raise ValueError(f"{self.kind} takes infinitely many values")

    def sample(self, rng: random.Random) -> Value:
        """Draw one value with Azure's semantics (e.g. quniform = round(uniform/q)*q)."""
        kind, args = self.kind, self.args
        if kind == "choice":
            return rng.choice(args)
        if kind == "randint":
            return rng.randrange(args[0])
        base = kind[1:] if kind.startswith("q") else kind
        if base in ("uniform", "loguniform"):
            x = rng.uniform(args[0], args[1])
        else:
            x = rng.gauss(args[0], args[1])
        if base.startswith("log"):
            x = math.exp(x)
        if kind.startswith("q"):
            return round(x / args[2]) * args[2]
        return x


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _expects(obj: str, condition: str) -> str:
    return f"{obj} expects {condition}"


def _validate_choice(args: list) -> tuple:
    if not args or (len(args) == 1 and isinstance(args[0], list) and not args[0]):
        raise SweepConfigError("", "Please specify an input for choice.")
    if len(args) != 1 or not isinstance(args[0], list):
        raise SweepConfigError("", _expects("choice", "its options as one list: "
                                            '["choice", [[option, ...]]]'))
    options: list[Value] = []
    for option in args[0]:
        if not (isinstance(option, str) or _is_number(option)):
            raise SweepConfigError("", _expects("choice", "options that are strings or numbers, "
                                                f"got {option!r}"))
        # Duplicates would make grid and no-repeat sampling run one configuration twice.
        if option not in options:
            options.append(option)
    return tuple(options)


def _validate_numbers(kind: str, args: list) -> tuple:
    names = ARG_NAMES[kind]
    if len(args) != len(names):
        raise SweepConfigError("", _expects(kind, f"{len(names)} argument(s) "
                                            f"[{', '.join(names)}], got {len(args)}"))
    for name, value in zip(names, args):
        if name == "q" or name == "upper":
            continue
        if not _is_number(value):
            raise SweepConfigError("", _expects(kind, f"{name} to be a float"))
    if kind == "randint":
        upper = args[0]
        if not isinstance(upper, int) or isinstance(upper, bool) or upper <= 0:
            raise SweepConfigError("", _expects("randint", "a positive number as input"))
        return (upper,)
    values = list(args)
    if names[-1] == "q":
        q = args[-1]
        if not _is_number(q) or not float(q).is_integer():
            raise SweepConfigError("", _expects(kind, "q to be an int"))
        if q <= 0:
            raise SweepConfigError("", _expects(kind, "q > 0"))
        values[-1] = int(q)
    _check_ranges(kind, values)
    return tuple(values)


def _check_ranges(kind: str, values: list) -> None:
    if "sigma" in ARG_NAMES[kind]:
        if values[1] < 0:
            raise SweepConfigError("", _expects(kind, "sigma to be non negative"))
        return
    lo, hi = values[0], values[1]
    # Azure: uniform/quniform need lo < hi; the log variants accept lo == hi.
    if kind in ("uniform", "quniform") and lo >= hi:
        raise SweepConfigError("", _expects(kind, "min_value < max_value"))
    if lo > hi:
        raise SweepConfigError("", _expects(kind, "min_value <= max_value"))
    if kind.endswith("loguniform") and hi > _MAX_LOG_BOUND:
        raise SweepConfigError("", _expects(kind, f"max_value <= {_MAX_LOG_BOUND:g} "
                                            "(it is the log of the value)"))


def build_expression(kind: Any, args: Any) -> Expression:
    """Validate an expression's name and arguments as Azure ML's functions do."""
    if not isinstance(kind, str) or kind.lower() not in ARG_NAMES:
        raise SweepConfigError("", f"Unknown parameter expression {kind!r}; expected one of "
                                   f"{', '.join(ARG_NAMES)}")
    kind = kind.lower()
    if not isinstance(args, list):
        raise SweepConfigError("", _expects(kind, "its arguments as a list"))
    if kind == "choice":
        return Expression(kind, _validate_choice(args))
    return Expression(kind, _validate_numbers(kind, args))


def parse_expression(name: str, raw: Any) -> Expression:
    """Parse one hyperparameter's JSON (`["uniform", [0.5, 1.5]]`) or text (`uniform(0.5,1.5)`)."""
    try:
        if isinstance(raw, str):
            return _parse_text_expression(raw)
        if not isinstance(raw, list) or len(raw) != 2:
            raise SweepConfigError("", 'expects an expression like ["choice", [[option, ...]]] '
                                       'or ["uniform", [min_value, max_value]]')
        return build_expression(raw[0], raw[1])
    except SweepConfigError as err:
        raise SweepConfigError(name, err.message) from err


_TEXT_FORM = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.DOTALL)
_PARAM_FORM = re.compile(r"^\s*([^=\s]+)\s*=(.*)$", re.DOTALL)


def parse_value(token: str) -> Value:
    """A CLI token as a value: numbers become int or float, quotes keep a string a string."""
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]  # quoting keeps "1" a string
    for convert in (int, float):
        try:
            value = convert(token)
        except ValueError:
            continue
        if _is_number(value):
            return value
    return token


def _parse_text_expression(text: str) -> Expression:
    match = _TEXT_FORM.match(text)
    if not match:
        raise SweepConfigError("", f"expects an expression like choice(a,b) or uniform(0.5,1.5), "
                                   f"got {text!r}")
    kind, body = match.group(1), match.group(2)
    tokens = [] if not body.strip() else [parse_value(t) for t in body.split(",")]
    if kind.lower() == "choice":
        return build_expression(kind, [tokens])
    return build_expression(kind, tokens)


def parse_param_text(text: str) -> tuple[str, Expression]:
    """Parse the CLI form `--kernel=choice(linear,rbf,poly)` into (name, expression)."""
    match = _PARAM_FORM.match(text)
    if not match:
        raise SweepConfigError(text, "expects NAME=EXPRESSION, e.g. --kernel=choice(linear,rbf)")
    name = match.group(1)
    return name, parse_expression(name, match.group(2))


def parse_param_texts(texts: list[str]) -> dict[str, list]:
    """Turn repeated `--param` texts into the API's JSON space; a name given twice is an error."""
    space: dict[str, list] = {}
    for text in texts:
        name, expression = parse_param_text(text)
        if name in space:
            raise SweepConfigError(name, "is given more than once")
        space[name] = expression.to_json()
    return space
