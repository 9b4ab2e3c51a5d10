"""The control API as a running script may use it: its own run, through its run-scoped token.

Standard library only, so it works in any run's interpreter. The agent gives every run Azure ML's
variables: `AZUREML_SERVICE_ENDPOINT` (the control API's URL), `AZUREML_RUN_TOKEN` (valid while
the run is active, for this run and its child runs only: service/auth.py) and
`AZUREML_RUN_TOKEN_EXPIRY` (unix seconds), beside `AZUREML_RUN_ID`.

    api = RunApi.from_environment()
    api.log("loss", 0.5)
    child = api.create_child(name="fold-1")
    api.log("loss", 0.4, run_id=child["id"])
    api.register_model("my-model", "outputs/model.joblib")
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Mapping

TIMEOUT_S = 60.0


class RunApiError(Exception):
    """The control API refused a call: its status and its JSON error body."""

    def __init__(self, status: int, body: Any):
        message = body.get("error", {}).get("message") if isinstance(body, dict) else body
        super().__init__(f"{status}: {message}")
        self.status, self.body, self.message = status, body, message


class RunApi:
    """Calls on one run (and its children) with that run's token."""

    def __init__(self, endpoint: str, token: str, run_id: str):
        self.endpoint, self.token, self.run_id = endpoint.rstrip("/"), token, run_id

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> "RunApi":
        """The run this process belongs to, from the variables the agent set."""
        env = os.environ if environ is None else environ
        missing = [k for k in ("AZUREML_SERVICE_ENDPOINT", "AZUREML_RUN_TOKEN", "AZUREML_RUN_ID")
                   if not env.get(k)]
        if missing:
            raise RuntimeError(f"not inside an amlocal run: {', '.join(missing)} not set")
        return cls(env["AZUREML_SERVICE_ENDPOINT"], env["AZUREML_RUN_TOKEN"],
                   env["AZUREML_RUN_ID"])

    def request(self, method: str, path: str, body: Any = None, data: bytes | None = None,
                content_type: str = "application/json", raw: bool = False) -> Any:
        """One call; the answer's JSON (or text; bytes with `raw`). RunApiError for a 4xx/5xx."""
        if body is not None:
            data = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}"}
        if data is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                payload = resp.read()
                return payload if raw else _decode(payload)
        except urllib.error.HTTPError as err:
            raise RunApiError(err.code, _decode(err.read())) from None

    def _run(self, run_id: str | None) -> str:
        return "/runs/" + urllib.parse.quote(run_id or self.run_id, safe="")

    def get_run(self, run_id: str | None = None) -> dict:
        """The run (or one of its children), as GET /runs/<id> shows it."""
        return self.request("GET", self._run(run_id))

    def get_metrics(self, run_id: str | None = None) -> dict:
        """Metrics in Azure ML's get_metrics() shapes."""
        return self.request("GET", self._run(run_id) + "/metrics")["metrics"]

    def log(self, name: str, value: Any, kind: str = "scalar", step: int | None = None,
            run_id: str | None = None, description: str = "") -> None:
        """Log one value (kind: scalar, list, row, table or image)."""
        self.request("POST", self._run(run_id) + "/metrics",
                     {"metrics": [{"name": name, "kind": kind, "value": value, "step": step,
                                   "description": description}]})

    def set_tags(self, tags: dict[str, str | None], run_id: str | None = None,
                 remove: list[str] | None = None) -> dict:
        """Merge tags into the run's (and remove some)."""
        return self.request("PATCH", self._run(run_id) + "/tags",
                            {"add": tags, "remove": list(remove or [])})

    def add_properties(self, properties: dict[str, str], run_id: str | None = None) -> dict:
        """Add properties (add-only)."""
        return self.request("PATCH", self._run(run_id) + "/properties", {"add": properties})

    def upload_file(self, name: str, data: bytes, run_id: str | None = None) -> dict:
        """Store `data` as the run's file `name`."""
        path = self._run(run_id) + "/files/" + urllib.parse.quote(name)
        return self.request("PUT", path, data=data, content_type="application/octet-stream")

    def list_files(self, run_id: str | None = None) -> list[dict]:
        """The run's files: [{path, size}]."""
        return self.request("GET", self._run(run_id) + "/files")["files"]

    def download(self, name: str, run_id: str | None = None) -> bytes:
        """The bytes of the run's file `name`."""
        path = self._run(run_id) + "/files/" + urllib.parse.quote(name)
        return self.request("GET", path, raw=True)

    def create_child(self, name: str | None = None, child_id: str | None = None,
                     tags: dict[str, str] | None = None, run_id: str | None = None) -> dict:
        """A child run of `run_id` (default: this run), Running at once (run.child_run)."""
        return self.request("POST", self._run(run_id) + "/children",
                            {"name": name, "run_id": child_id, "tags": tags or {}})

    def set_status(self, status: str, message: str | None = None, run_id: str | None = None,
                   code: str | None = None) -> dict:
        """End a child run, or ask for this run's final status: Completed, Failed, Canceled."""
        body = {"status": status, "message": message}
        if code is not None:
            body["code"] = code
        return self.request("POST", self._run(run_id) + "/status", body)

    def complete_child(self, child_id: str, status: str = "Completed",
                       message: str | None = None) -> dict:
        """End a child run: Completed, Failed or Canceled."""
        return self.set_status(status, message, run_id=child_id)

    def list_children(self, run_id: str | None = None, runs: bool = False) -> list[dict]:
        """The run's children (with `runs`, each row's "run" is the child's whole record)."""
        return self.request("GET", self._run(run_id) + "/children" + ("?runs=true" if runs else ""))["children"]

    def register_model(self, name: str, path: str, run_id: str | None = None,
                       **fields: Any) -> dict:
        """Register a model from the run's files (run.register_model(name, model_path=path))."""
        return self.request("POST", "/models", {"name": name, "run_id": run_id or self.run_id,
                                                "path": path, **fields})


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
