"""Compute targets: where a run executes (Azure ML's `run_config.target`).

`local` is built in: the agent's own run queue on this machine. A `ray` target is a Ray cluster
named by its dashboard/Jobs address (`http://HOST:8265`); the agent submits its runs there as Ray
jobs (service/agent/ray_jobs.py). What the cluster looks like is read over its dashboard's HTTP
API, so neither the API nor the CLI needs the Ray package.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from environments.conda_names import CONDA_ONLY, CONDA_TO_PYPI
from environments.spec import EnvSpec

from .errors import BadRequest
from .store import Store
from .store.computes import LOCAL, ComputeTarget

COMPUTE_NAME = r"[a-zA-Z][a-zA-Z0-9\-]{1,31}"
COMPUTE_NAME_ERROR = ("A compute name is 2 to 32 letters, digits and hyphens, starting with a "
                      "letter.")
TYPES = ("ray", "local")  # local: another name for the agent (an Azure AmlCompute cluster's stand-in)
PROBE_TIMEOUT_S = 5.0
PROBE_MARK = "AMLOCAL_PROBE "
PROBE_ENTRYPOINT = (
    "python -c \"import sys, json, importlib.metadata as m; print('" + PROBE_MARK + "' + "
    "json.dumps({'python': '%d.%d.%d' % sys.version_info[:3], 'packages': "
    "{d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}}))\"")
SKIPPED_CONDA = {"python", "pip"}


class ClusterUnreachable(Exception):
    """The cluster's dashboard did not answer (or answered something that is not Ray's)."""


@dataclass(frozen=True)
class ClusterState:
    """What a Ray cluster says about itself: its version and nodes, CPUs in total and in use."""

    ray_version: str
    nodes: list[dict] = field(default_factory=list)
    cpus_used: float = 0.0

    @property
    def alive(self) -> list[dict]:
        return [n for n in self.nodes if n["state"] == "ALIVE"]

    @property
    def cpus_total(self) -> float:
        return sum(n["cpus"] for n in self.alive)

    @property
    def cpus_free(self) -> float:
        return max(0.0, self.cpus_total - self.cpus_used)

    def node(self, node_id: str) -> dict | None:
        return next((n for n in self.nodes if n["node_id"] == node_id), None)


class RayCluster:
    """The dashboard's HTTP API of one Ray cluster (read only)."""

    def __init__(self, address: str, timeout_s: float = PROBE_TIMEOUT_S):
        self.address, self.timeout_s = address.rstrip("/"), timeout_s

    def _get(self, path: str) -> dict:
        try:
            resp = requests.get(self.address + path, timeout=self.timeout_s)
        except requests.RequestException as err:
            raise ClusterUnreachable(f"no Ray cluster answers at {self.address}: "
                                     f"{_short(err)}") from err
        try:
            resp.raise_for_status()
            found = resp.json()
            if not isinstance(found, dict):
                raise ValueError("not a JSON object")
            return found
        except (requests.RequestException, ValueError) as err:
            raise ClusterUnreachable(f"{self.address} answered {path} with HTTP "
                                     f"{resp.status_code}, not as a Ray dashboard") from err

    def version(self) -> str:
        """The cluster's Ray version (this also proves it is a Ray dashboard)."""
        found = self._get("/api/version").get("ray_version")
        if not found:
            raise ClusterUnreachable(f"{self.address} answered, but not as a Ray dashboard")
        return str(found)

    def state(self) -> ClusterState:
        """Version, nodes (alive and dead) and CPU use, as the dashboard reports them now."""
        version = self.version()
        rows = self._get("/api/v0/nodes?limit=10000&detail=false").get("data", {})
        nodes = [{"node_id": n["node_id"], "ip": n.get("node_ip"), "head": n.get("is_head_node"),
                  "state": n.get("state"), "cpus": float(n.get("resources_total", {}).get("CPU", 0)),
                  "message": n.get("state_message")}
                 for n in rows.get("result", {}).get("result", [])]
        usage = (self._get("/api/cluster_status?format=0").get("data", {}).get("clusterStatus")
                 or {}).get("loadMetricsReport", {}).get("usage", {})
        used = float(usage.get("CPU", [0.0, 0.0])[0])
        return ClusterState(version, nodes, used)


def _short(err: BaseException) -> str:
    """An exception in one line: the OS's words when requests nests them (`Connection refused`,
    `Name or service not known`), else the first line of its message."""
    text = str(err)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found.group(1).strip()
    if isinstance(err, requests.Timeout):
        return "no answer within the timeout"
    return (text.splitlines()[0] if text else type(err).__name__)[:300]


def check_address(address: str) -> str:
    """`http(s)://HOST:PORT` (the Ray dashboard), without path, query or credentials."""
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (parts.scheme not in ("http", "https") or not parts.hostname or not port
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username):
        raise BadRequest(f"Invalid field 'address': {address[:200]!r} is not http://HOST:PORT "
                         "(the Ray dashboard's address, e.g. http://127.0.0.1:8265).",
                         field="address")
    return f"{parts.scheme}://{parts.netloc}"


def create_compute(store: Store, name: str, type_: str, address: str,
                   description: str = "") -> ComputeTarget:
    """Check the name, type and address, reach the cluster, then add the target."""
    if not re.fullmatch(COMPUTE_NAME, name):
        raise BadRequest(f"Invalid field 'name': {COMPUTE_NAME_ERROR}", field="name")
    if type_ not in TYPES:
        raise BadRequest(f"Invalid field 'type': {type_!r}; the types are {list(TYPES)} "
                         "('local' is built in).", field="type")
    if type_ == LOCAL:  # runs on it go to the agent's own queue, as on `local`
        if address:
            raise BadRequest("Invalid field 'address': a local compute runs on amlocal's agent "
                             "and has no address.", field="address")
        return store.create_compute(name, type_, "", description)
    if not address:
        raise BadRequest("Invalid field 'address': a ray compute needs its cluster's dashboard "
                         "address, http://HOST:PORT.", field="address")
    address = check_address(address)
    try:
        RayCluster(address).version()
    except ClusterUnreachable as err:
        raise BadRequest(f"Invalid field 'address': {err}.", field="address") from err
    return store.create_compute(name, type_, address, description)


def describe(target: ComputeTarget, with_cluster: bool = True) -> dict:
    """The wire form of a target; a cluster's nodes and CPUs when asked (state Unreachable and the
    reason when it does not answer)."""
    out = {"name": target.name, "type": target.type, "address": target.address or None,
           "description": target.description, "created_time": target.created_time or None}
    if target.type != "ray" or not with_cluster:
        return out
    started = time.monotonic()
    try:
        state = RayCluster(target.address).state()
    except ClusterUnreachable as err:
        return {**out, "state": "Unreachable", "message": str(err)}
    return {**out, "state": "Ready" if state.alive else "NoNodes", "ray_version": state.ray_version,
            "nodes": state.nodes, "cpus_total": state.cpus_total, "cpus_free": state.cpus_free,
            "answered_in_ms": round((time.monotonic() - started) * 1000, 1)}


def resolve_compute(store: Store, name: str | None, field: str = "config.compute_target") -> str:
    """The target a run asks for (None: `local`), or a 400 naming the field."""
    if name is None or name == LOCAL:
        return LOCAL
    targets = {c.name: c for c in store.list_computes()}
    if name not in targets:
        raise BadRequest(f"Invalid field '{field}': no compute {name!r}; there are "
                         f"{list(targets)} (amlocal compute create).", field=field)
    return LOCAL if targets[name].type == LOCAL else name


# -- a run's environment on a cluster: the same Python, and pip for what it lacks ----------------


class RuntimeEnvError(ValueError):
    """The environment cannot be had on the cluster (another Python, a conda-only package)."""


@dataclass(frozen=True)
class Probe:
    """What the cluster's Python is and has."""

    python: str
    packages: dict[str, str] = field(default_factory=dict)  # canonical name -> version


def parse_probe(log_text: str) -> Probe:
    """The probe job's answer from its log."""
    for line in log_text.splitlines():
        if line.startswith(PROBE_MARK):
            found = json.loads(line[len(PROBE_MARK):])
            return Probe(found["python"], {canonicalize_name(k): v
                                           for k, v in found["packages"].items()})
    raise RuntimeEnvError(f"the cluster's probe job printed no answer: {log_text[-500:]!r}")


def conda_as_pip(entry: str) -> str:
    """A conda dependency (`name=1.3`, `name>=1.3`) as a pip requirement."""
    name = entry.split("=")[0].split("<")[0].split(">")[0].split("!")[0].strip()
    rest = entry[len(name):].strip()
    if name in CONDA_ONLY:
        raise RuntimeEnvError(f"{name!r} exists only as a conda package; a Ray runtime "
                              "environment installs pip packages")
    if rest.startswith("=") and not rest.startswith("=="):
        rest = "==" + rest[1:].rstrip("*").rstrip(".") + ".*"
    return CONDA_TO_PYPI.get(name, name) + rest


def satisfied(requirement: str, packages: dict[str, str]) -> bool:
    """Whether the cluster's packages already meet a pip requirement."""
    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        return False  # a URL or an option line: let pip decide
    if req.url:
        return False
    if req.marker is not None and not req.marker.evaluate():
        return True  # not meant for this platform
    version = packages.get(canonicalize_name(req.name))
    return version is not None and req.specifier.contains(version, prereleases=True)


def runtime_env_for(environment: dict | None, probe: Probe) -> dict:
    """The runtime_env of a run's recorded environment ({} when the cluster has it all)."""
    if not environment:
        return {}
    spec = EnvSpec.from_dict(environment["spec"])
    if spec.python:
        wanted = spec.python.split(".")
        if probe.python.split(".")[:len(wanted)] != wanted:
            raise RuntimeEnvError(f"it needs Python {spec.python}, the cluster runs Python "
                                  f"{probe.python}")
    wanted_pip = [conda_as_pip(c) for c in spec.conda
                  if c.split("=")[0].split("<")[0].split(">")[0].strip() not in SKIPPED_CONDA]
    wanted_pip += list(spec.pip)
    missing = [r for r in wanted_pip if not satisfied(r, probe.packages)]
    env: dict = {"pip": {"packages": missing, "pip_check": False}} if missing else {}
    if spec.variables:
        env["env_vars"] = dict(spec.variables)
    return env
