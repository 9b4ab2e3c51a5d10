"""The control API's HTTP client: the verbs the CLI, the quickstart and `amlocal.azureml` share.

It is given the service's URL and token (`amlocal.config.find_service` finds them for a
notebook; the CLI finds them through service.settings). Every non-2xx answer, refused connection
or timeout raises ClientError with one line of text; nothing here prints unless asked to (the
`out` stream of `wait_for_run`) and nothing exits.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Iterator, TextIO

import requests

from . import snapshot as snapshots

RUN_TERMINAL = ("Completed", "Failed", "Canceled")
DEPLOYMENT_SETTLED = ("Healthy", "Failed", "Unhealthy")
ENVIRONMENT_BUILT = ("Succeeded", "Failed")
DEPLOY_WAIT_S = 900.0
LOG_POLL_S = 0.25
DEPLOY_POLL_S = 0.1
BUILD_POLL_S = 0.5
MAX_SOURCE_FILES = 1000
SOURCE_SUFFIXES = (".py", ".json", ".txt", ".yml", ".yaml", ".cfg")
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class ClientError(Exception):
    """An error answer from the service (status and message), or no answer at all."""

    def __init__(self, status: int | None, message: str, body: Any = None):
        super().__init__(f"{status}: {message}" if status else message)
        self.status, self.message, self.body = status, message, body


def non_finite_floats(value: Any) -> Any:
    """The API's "NaN"/"Infinity"/"-Infinity" metric strings as floats again (the inverse of
    service/api/jsonio.py's strict JSON)."""
    if isinstance(value, str):
        return NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {key: non_finite_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [non_finite_floats(item) for item in value]
    return value


def read_source(source_dir: Path, entry_script: str) -> dict[str, str]:
    """The text files of a small source folder (path → text), sent inline with a deployment."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise ClientError(None, f"source directory {str(source_dir)!r} does not exist or is not "
                                f"a directory")
    files = {}
    for path in sorted(source_dir.rglob("*")):
        rel = path.relative_to(source_dir).as_posix()
        if not path.is_file() or "__pycache__" in rel or rel.startswith("."):
            continue
        if path.suffix in SOURCE_SUFFIXES or rel == entry_script:
            files[rel] = path.read_text(encoding="utf-8")
        if len(files) > MAX_SOURCE_FILES:
            raise ClientError(None, f"{source_dir} holds more than {MAX_SOURCE_FILES} files; "
                                    f"use --run-id or a smaller folder")
    return files


def model_fields(name: str, framework: str | None = None, framework_version: str | None = None,
                 resource_configuration: dict | None = None, tags: dict | None = None,
                 properties: dict | None = None, description: str | None = None,
                 sample_input: list | None = None) -> dict:
    """The POST /models fields every registration shares (unset ones left out)."""
    body: dict[str, Any] = {"name": name, "tags": tags or {}, "properties": properties or {}}
    for key, value in (("framework", framework), ("framework_version", framework_version),
                       ("resource_configuration", resource_configuration),
                       ("description", description), ("sample_input", sample_input)):
        if value is not None:
            body[key] = value
    return body


class Client:
    """Verbs over HTTP; every non-2xx answer raises ClientError with the service's message."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    # -- transport ----------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            resp = self.session.request(method, self.url + path, **kwargs)
        except requests.ConnectionError as err:
            raise ClientError(None, f"cannot reach the amlocal service at {self.url} "
                                    f"(start it with `amlocal serve`)") from err
        except requests.Timeout as err:
            raise ClientError(None, f"the amlocal service at {self.url} did not answer "
                                    f"{method} {path} within {kwargs['timeout']} s") from err
        except requests.RequestException as err:
            raise ClientError(None, f"{method} {self.url}{path} failed: {err}") from err
        if resp.status_code >= 400:
            try:
                body = resp.json()
                message = body.get("error", {}).get("message") or body.get("message") or resp.text
            except ValueError:
                body, message = None, resp.text
            raise ClientError(resp.status_code, message, body)
        return resp

    def get(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs) -> Any:
        return self.request("POST", path, **kwargs).json()

    def health(self, timeout: float | None = None) -> dict:
        return self.get("/health", timeout=timeout or self.timeout)

    # -- runs ---------------------------------------------------------------------------------

    def _post_source(self, path: str, source_dir: Path, config: dict) -> dict:
        """Pack SOURCE_DIR (honouring .amlignore/.gitignore) and POST it with `config`."""
        with tempfile.TemporaryDirectory(prefix="amlocal-snapshot-") as tmp:
            try:
                packed = snapshots.pack(Path(source_dir), Path(tmp) / "snapshot.tar.gz")
            except snapshots.SnapshotError as err:
                raise ClientError(None, str(err)) from err
            with open(packed.path, "rb") as fh:
                return self.post(path, files={"snapshot": ("snapshot.tar.gz", fh,
                                                           "application/gzip")},
                                 data={"config": json.dumps(config)})

    def submit_source(self, source_dir: Path, script: str, experiment: str,
                      arguments: list[str], tags: dict | None = None,
                      environment: str | dict | None = None,
                      timeout: float | None = None, compute_target: str | None = None) -> dict:
        """Azure's experiment.submit(ScriptRunConfig(...)): a run of SCRIPT from SOURCE_DIR."""
        config: dict[str, Any] = {"script": script, "arguments": list(arguments),
                                  "tags": tags or {}}
        if environment:
            config["environment"] = environment
        if timeout:
            config["timeout_s"] = timeout
        if compute_target:
            config["compute_target"] = compute_target
        return self._post_source(f"/experiments/{experiment}/runs", source_dir, config)

    def submit_sweep(self, source_dir: Path, experiment: str, config: dict) -> dict:
        """A HyperDrive-style sweep of SOURCE_DIR's script (config as POST …/sweeps takes it)."""
        return self._post_source(f"/experiments/{experiment}/sweeps", source_dir, config)

    def get_run(self, run_id: str) -> dict:
        return self.get(f"/runs/{run_id}")

    def follow_logs(self, run_id: str, offset: int = 0,
                    timeout: float | None = None) -> Iterator[bytes]:
        """The run's log as it is written, until the run ends (or `timeout` s pass: ClientError).

        Polls GET …/logs?offset=N, so no request waits on a script that prints nothing."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            resp = self.request("GET", f"/runs/{run_id}/logs", params={"offset": offset})
            status = resp.headers.get("x-run-status")
            if resp.content:
                offset = int(resp.headers.get("x-log-offset", offset + len(resp.content)))
                yield resp.content
                continue
            if status in RUN_TERMINAL:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise ClientError(None, f"run {run_id} is still {status} after {timeout:g} s")
            time.sleep(LOG_POLL_S)

    def wait_for_run(self, run: dict, out: TextIO | None = None,
                     timeout: float | None = None) -> dict:
        """Azure ML's wait_for_completion(show_output=True): stream the log, then a summary."""
        out = out or sys.stdout
        web = self.portal_url(run["id"])
        out.write(f"RunId: {run['id']}\nWeb View: {web}\n\nStreaming user_logs/std_log.txt\n"
                  f"{'=' * 31}\n\n")
        out.flush()
        for chunk in self.follow_logs(run["id"], timeout=timeout):
            out.write(chunk.decode("utf-8", "replace"))
            out.flush()
        final = self.get_run(run["id"])
        out.write(f"\nExecution Summary\n=================\nRunId: {final['id']}\n"
                  f"Web View: {web}\nStatus: {final['status']}\n")
        if final.get("error"):
            out.write(f"\nError:\n{final['error'].get('message', '')}\n")
        out.flush()
        return final

    def portal_url(self, run_id: str) -> str:
        """Where the dashboard shows a run (Azure's Web View / get_portal_url)."""
        return f"{self.url}/ui/runs/{run_id}"

    def metrics(self, run_id: str) -> dict:
        return non_finite_floats(self.get(f"/runs/{run_id}/metrics")["metrics"])

    # -- models -------------------------------------------------------------------------------

    def register_from_run(self, run_id: str, name: str, path: str = "outputs/model.joblib",
                          framework: str | None = "ScikitLearn", **fields: Any) -> dict:
        """Azure's run.register_model(...): POST /models with the run's file or folder."""
        body = model_fields(name, framework, **fields)
        return self.post("/models", json={**body, "run_id": run_id, "path": path})

    def register_files(self, name: str, paths: list[Path], **fields: Any) -> dict:
        """Azure's Model.register(model_path=...): upload files; a folder keeps its own name."""
        entries = []
        for path in map(Path, paths):
            if path.is_dir():
                entries += [(f"{path.name}/{f.relative_to(path).as_posix()}", f)
                            for f in sorted(path.rglob("*")) if f.is_file()]
            elif path.is_file():
                entries.append((path.name, path))
            else:
                raise ClientError(None, f"{path} is neither a file nor a folder")
        config = model_fields(name, **fields)
        with ExitStack() as stack:
            files = [("files", (rel, stack.enter_context(open(f, "rb")))) for rel, f in entries]
            return self.post("/models", files=files, data={"config": json.dumps(config)})

    def download_model(self, name: str, version: int | str = "latest",
                       target: Path | None = None) -> Path:
        """Save a version's file (or its folder's zip) to `target`; returns the path written."""
        resp = self.request("GET", f"/models/{name}/versions/{version}/download", stream=True)
        served = resp.headers.get("Content-Disposition", "").rpartition("filename=")[2].strip('"')
        fallback = served or f"{name}-{version}"
        target = Path(target or fallback)
        if target.is_dir():
            target = target / fallback
        tmp = target.with_name(f".{target.name}.part-{os.getpid()}")
        with open(tmp, "wb") as out:
            for chunk in resp.iter_content(chunk_size=1024 * 1024):
                out.write(chunk)
        os.replace(tmp, target)
        return target

    # -- deployments --------------------------------------------------------------------------

    def wait_settled(self, name: str, generation: int, timeout: float = DEPLOY_WAIT_S) -> dict:
        """Poll until `generation` serves (Healthy) or the deployment settles otherwise; at the
        deadline, the deployment as it is."""
        deadline = time.monotonic() + timeout
        while True:
            dep = self.get(f"/deployments/{name}")
            served = dep.get("served_generation") == generation and dep["state"] == "Healthy"
            if served or (dep["state"] in DEPLOYMENT_SETTLED and dep["state"] != "Healthy"):
                return dep
            if time.monotonic() > deadline:
                return dep
            time.sleep(DEPLOY_POLL_S)

    def deploy_and_wait(self, name: str, models: list[str], target: str = "local",
                        inference_config: dict | None = None, timeout: float = DEPLOY_WAIT_S,
                        **deployment_config: Any) -> dict:
        """Deploy (overwriting) and wait until it serves or fails; returns the deployment."""
        body: dict[str, Any] = {"name": name, "models": models, "overwrite": True,
                                "deployment_config": {"target": target, **deployment_config}}
        if inference_config is not None:
            body["inference_config"] = inference_config
        dep = self.post("/deployments", json=body)
        return self.wait_settled(name, dep["generation"], timeout)

    def score(self, name: str, data: Any, method: str | None = None,
              timeout: float | None = None) -> Any:
        """Webservice.run: POST {"data": ...} to the scoring URI (with the primary key when
        auth is on); returns the parsed answer."""
        dep = self.get(f"/deployments/{name}")
        if not dep.get("scoring_uri"):
            raise ClientError(None, f"Error attempting to call webservice, scoring_uri "
                                    f"unavailable (deployment {name} is {dep['state']}).")
        body = {"data": data, **({"method": method} if method else {})}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if dep.get("auth_enabled"):
            key = self.get(f"/deployments/{name}/keys")["primary_key"]
            headers["Authorization"] = f"Bearer {key}"
        try:
            resp = requests.post(dep["scoring_uri"], json=body, headers=headers,
                                 timeout=timeout or self.timeout)
        except requests.RequestException as err:
            raise ClientError(None, f"cannot reach {dep['scoring_uri']}: {err}") from err
        if resp.status_code != 200:
            raise ClientError(resp.status_code, f"Received bad response from service: "
                                                f"{resp.text[:1000]}")
        return resp.json()

    # -- environments -------------------------------------------------------------------------

    def register_environment(self, name: str, path: Path,
                             description: str | None = None) -> dict:
        """Azure's Environment.from_conda_specification / from_pip_requirements + register():
        a .yml/.yaml file is a conda spec, anything else pip requirements."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ClientError(None, f"cannot read {path}: {err}") from err
        key = "conda_spec" if path.suffix.lower() in (".yml", ".yaml") else "pip_requirements"
        body = {"name": name, key: text}
        if description is not None:
            body["description"] = description
        return self.post("/environments", json=body)

    def wait_built(self, name: str, version: str, timeout: float) -> dict:
        """Poll an environment until its build Succeeded or Failed (ClientError at the deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            env = self.get(f"/environments/{name}/versions/{version}")
            if env["build"]["state"] in ENVIRONMENT_BUILT:
                return env
            if time.monotonic() > deadline:
                raise ClientError(None, f"environment {env['id']} still {env['build']['state']} "
                                        f"after {timeout:g} s")
            time.sleep(BUILD_POLL_S)
