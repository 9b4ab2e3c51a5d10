"""Dockerfile text that installs an environment spec into an image (the docker target's step)."""
from __future__ import annotations

import shlex

from environments.spec import EnvSpec, EnvSpecError

DEFAULT_VENV = "/opt/amlocal-env"


def _python_check(version: str) -> str:
    # The base image decides the Python; fail the build loudly rather than run a mismatched one.
    wanted = tuple(int(p) for p in version.split("."))
    probe = (f"import sys; v = sys.version_info[:{len(wanted)}]; "
             f"sys.exit(0 if v == {wanted!r} else 'spec wants python={version}, image has %s'"
             " % sys.version.split()[0])")
    return f"RUN python3 -c {shlex.quote(probe)}"


def dockerfile_steps(spec: EnvSpec, venv: str = DEFAULT_VENV, pip_cert: str | None = None) -> str:
    """Return Dockerfile lines that create a venv at `venv` and pip-install the spec into it.

    The base image may lack Python: it is installed with apt when `python3` is missing.
    `pip_cert` names a CA bundle inside the image used for the install step only (not kept in ENV).
    """
    if spec.conda_only_packages():
        raise EnvSpecError(f"conda-only packages {spec.conda_only_packages()} cannot go into a"
                           " pip-built image", None, spec.source)
    quoted_venv = shlex.quote(venv)
    lines = [
        f"# amlocal environment {spec.hash}" + (f" ({spec.name})" if spec.name else ""),
        "RUN command -v python3 >/dev/null 2>&1 || (apt-get update"
        " && apt-get install -y --no-install-recommends python3 python3-venv"
        " && rm -rf /var/lib/apt/lists/*)",
    ]
    if spec.python:
        lines.append(_python_check(spec.python))
    lines.append(f"RUN python3 -m venv {quoted_venv}")
    requirements = spec.pip_requirements()
    if requirements:
        cert = f"PIP_CERT={shlex.quote(pip_cert)} " if pip_cert else ""
        packages = " ".join(shlex.quote(r) for r in requirements)
        lines.append(f"RUN {cert}{quoted_venv}/bin/pip install --no-cache-dir"
                     f" --disable-pip-version-check {packages}")
    lines.append(f"ENV VIRTUAL_ENV={quoted_venv} PATH={quoted_venv}/bin:$PATH")
    for key, value in spec.variables:
        lines.append(f"ENV {key}={_docker_quote(value)}")
    return "\n".join(lines) + "\n"


def _docker_quote(value: str) -> str:
    # ENV takes a double-quoted string with backslash escapes, not shell quoting
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'
