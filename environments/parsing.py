"""Read conda environment YAML and pip requirement files into normalised EnvSpecs."""
from __future__ import annotations

import re
from pathlib import Path

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from environments.spec import EnvSpec, EnvSpecError, check_machine, normalise_conda_dep

CONDA_KEYS = ("name", "channels", "dependencies", "variables", "prefix")
_PYTHON_PIN = re.compile(r"^python\s*(?:==?|\s)\s*(?P<version>\d+(?:\.\d+){0,2})(?:\.\*)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def normalise_requirement(text: str) -> str:
    """Normalise one pip requirement: canonical name, sorted extras and specifiers, no spaces."""
    req = Requirement(text)
    out = canonicalize_name(req.name)
    if req.extras:
        out += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
    out += f" @ {req.url}" if req.url else str(req.specifier)
    if req.marker is not None:
        out += f" ; {req.marker}"
    return out


def _requirements(items: list[tuple[int, str]], source: str | None,
                  lines: dict[str, int]) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for line, text in items:
        if text.startswith("-"):
            raise EnvSpecError(f"pip option {text.split()[0]!r} is not supported in an"
                               " environment spec: list packages only", line, source)
        try:
            requirement = normalise_requirement(text)
        except InvalidRequirement as err:
            raise EnvSpecError(f"invalid pip requirement {text!r}: {err}", line, source) from err
        key = "pip:" + re.split(r"[\s=<>!~\[;@]", requirement, maxsplit=1)[0]
        if key in lines:
            raise EnvSpecError(f"{key[4:]!r} is listed twice (lines {lines[key]} and {line})",
                               line, source)
        lines[key] = line
        out[key] = requirement
    return tuple(sorted(out.values()))


def parse_pip_requirements(text: str, source: str | None = None, *,
                           check: bool = True) -> EnvSpec:
    """Parse a pip requirements file (comments, blank lines and `\\` continuations allowed)."""
    items: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if pending:
            line, number = pending + " " + line, start
        if line.endswith("\\"):
            pending, start = line[:-1].strip(), number
            continue
        pending = ""
        if line:
            items.append((number, line))
    if not items:
        raise EnvSpecError("empty file: no requirements listed", None, source)
    lines: dict[str, int] = {}
    spec = EnvSpec(pip=_requirements(items, source, lines), kind="pip", source=source,
                   lines=lines)
    if check:
        check_machine(spec)
    return spec


def _scalar(node: yaml.Node, what: str, source: str | None) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.value == "":
        raise EnvSpecError(f"{what} must be a non-empty string", node.start_mark.line + 1, source)
    return str(node.value)


def _sequence(node: yaml.Node, what: str, source: str | None) -> list[yaml.Node]:
    if not isinstance(node, yaml.SequenceNode):
        raise EnvSpecError(f"{what} must be a list", node.start_mark.line + 1, source)
    return list(node.value)


def _python_version(text: str, line: int, source: str | None) -> str:
    match = _PYTHON_PIN.match(text)
    if not match:
        raise EnvSpecError(f"{text!r}: pin Python as python=X.Y or python=X.Y.Z", line, source)
    version = match["version"]
    if not version.startswith("3.") or version == "3":
        raise EnvSpecError(f"{text!r}: Python {version} is not supported; amlocal builds"
                           " Python 3 environments (write python=3.X)", line, source)
    return version


def _dependencies(node: yaml.Node, source: str | None, lines: dict[str, int]) -> dict:
    found: dict = {"python": None, "conda": {}, "pip": ()}
    for item in _sequence(node, "'dependencies'", source):
        line = item.start_mark.line + 1
        if isinstance(item, yaml.MappingNode):
            for key, value in item.value:
                if key.value != "pip":
                    raise EnvSpecError(f"unknown key {key.value!r} in dependencies (only 'pip:'"
                                       " may hold a list)", key.start_mark.line + 1, source)
                entries = [(v.start_mark.line + 1, _scalar(v, "a pip requirement", source))
                           for v in _sequence(value, "'pip'", source)]
                found["pip"] = _requirements(entries, source, lines)
            continue
        text = _scalar(item, "a dependency", source).strip()
        if re.match(r"^python(\s|=|$|[<>!~])", text):
            if text != "python":
                found["python"] = _python_version(text, line, source)
            lines["python"] = line
            continue
        try:
            name, dep = normalise_conda_dep(text)
        except ValueError as err:
            raise EnvSpecError(str(err), line, source) from err
        if dep == "pip":  # every virtual environment has pip: only a pinned pip is kept
            lines["conda:pip"] = line
            continue
        if name in found["conda"]:
            raise EnvSpecError(f"{name!r} is listed twice", line, source)
        lines[f"conda:{name}"] = line
        found["conda"][name] = dep
    return found


def parse_conda_yaml(text: str, source: str | None = None, *, check: bool = True) -> EnvSpec:
    """Parse a conda environment file; `check` also verifies this machine can build it."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(err, "problem", None) or str(err)
        raise EnvSpecError(f"invalid YAML: {reason}", line, source) from err
    if root is None:
        raise EnvSpecError("empty file: a conda spec needs 'dependencies'", None, source)
    if not isinstance(root, yaml.MappingNode):
        raise EnvSpecError("a conda spec must be a mapping with 'dependencies'",
                           root.start_mark.line + 1, source)
    fields: dict[str, yaml.Node] = {}
    for key, value in root.value:
        if key.value not in CONDA_KEYS:
            raise EnvSpecError(f"unknown key {key.value!r} (allowed: {', '.join(CONDA_KEYS)})",
                               key.start_mark.line + 1, source)
        fields[key.value] = value
    if "dependencies" not in fields:
        raise EnvSpecError("no 'dependencies' listed", root.start_mark.line + 1, source)
    lines: dict[str, int] = {}
    deps = _dependencies(fields["dependencies"], source, lines)
    if not lines:  # every dependency written leaves its line, even a bare `pip`
        raise EnvSpecError("'dependencies' is empty", fields["dependencies"].start_mark.line + 1,
                           source)
    channels = [_scalar(c, "a channel", source).strip().lower()
                for c in _sequence(fields["channels"], "'channels'", source)] \
        if "channels" in fields else []
    spec = EnvSpec(
        python=deps["python"], channels=tuple(dict.fromkeys(channels)),
        conda=tuple(sorted(deps["conda"].values())), pip=deps["pip"],
        variables=_variables(fields.get("variables"), source),
        name=_scalar(fields["name"], "'name'", source) if "name" in fields else None,
        kind="conda", source=source, lines=lines)
    if check:
        check_machine(spec)
    return spec


def _variables(node: yaml.Node | None, source: str | None) -> tuple[tuple[str, str], ...]:
    if node is None:
        return ()
    if not isinstance(node, yaml.MappingNode):
        raise EnvSpecError("'variables' must be a mapping of NAME: value",
                           node.start_mark.line + 1, source)
    out = {}
    for key, value in node.value:
        if not _ENV_NAME.match(key.value) or not isinstance(value, yaml.ScalarNode):
            raise EnvSpecError(f"variable {key.value!r}: names are letters, digits and _, values"
                               " are strings", key.start_mark.line + 1, source)
        out[key.value] = str(value.value)
    return tuple(sorted(out.items()))


def load_spec(path: str | Path, *, check: bool = True) -> EnvSpec:
    """Load a spec file: .yml/.yaml as conda YAML, anything else as pip requirements."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise EnvSpecError(f"cannot read spec file: {err}", None, str(path)) from err
    if path.suffix.lower() in (".yml", ".yaml"):
        return parse_conda_yaml(text, source=str(path), check=check)
    return parse_pip_requirements(text, source=str(path), check=check)
