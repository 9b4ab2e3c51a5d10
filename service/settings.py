"""Every `AMLOCAL_*` setting of the service, the agent and the CLI, declared once.

Each field names its variable, its default, its parser and its meaning; `load_settings` is the
only place that reads them, and the README's settings table is tested against `SETTINGS_TABLE`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

DEFAULT_WORKSPACE = "amlocal-workspace"
DEFAULT_URL = "http://127.0.0.1:5000"


class SettingsError(ValueError):
    """A variable has a value that cannot be used."""


def _number(kind: type) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError as err:
            raise SettingsError(f"is not a valid {kind.__name__}") from err
        if value < 0:
            raise SettingsError(f"must not be negative, got {value}")
        return value
    return parse


def _path(raw: str) -> Path:
    return Path(raw).expanduser().resolve()


def _setting(env: str, default: Any, meaning: str, parse: Callable[[str], Any] = str,
             shown: str | None = None) -> Any:
    return field(default=default, metadata={"env": env, "parse": parse, "meaning": meaning,
                                            "shown": shown})


@dataclass(frozen=True)
class Settings:
    """The configuration of one service, agent or CLI process (read once, at start)."""

    workspace: Path = _setting(
        "AMLOCAL_WORKSPACE", Path(DEFAULT_WORKSPACE), "the workspace folder (also `--workspace`)",
        _path, shown=f"`./{DEFAULT_WORKSPACE}`")
    api_token: str | None = _setting(
        "AMLOCAL_API_TOKEN", None, "bearer token; else one is generated on first start and saved "
        "as `<workspace>/api-token` (mode 0600), where the CLI finds it too", shown="generated")
    url: str = _setting("AMLOCAL_URL", DEFAULT_URL, "where the CLI finds the service",
                        shown=f"`{DEFAULT_URL}`")
    max_concurrent_runs: int = _setting(
        "AMLOCAL_MAX_CONCURRENT_RUNS", 4, "runs the agent executes at once", _number(int))
    cancel_grace_s: float = _setting(
        "AMLOCAL_CANCEL_GRACE_S", 3.0, "SIGTERM → SIGKILL grace when a run is canceled",
        _number(float), shown="3 s")
    agent_poll_s: float = _setting(
        "AMLOCAL_AGENT_POLL_S", 0.05, "how often the agent looks for queued runs and deployments",
        _number(float), shown="0.05 s")
    max_upload_bytes: int = _setting(
        "AMLOCAL_MAX_UPLOAD_BYTES", 310 * 1024 * 1024, "largest request body", _number(int),
        shown="310 MiB")
    api_workers: int = _setting(
        "AMLOCAL_API_WORKERS", 2, "gunicorn workers of the control API", _number(int))
    log_level: str = _setting("AMLOCAL_LOG_LEVEL", "INFO", "the service's log level")
    introspect_timeout_s: float = _setting(
        "AMLOCAL_INTROSPECT_TIMEOUT_S", 10.0, "seconds a registration may spend loading a model "
        "to record its estimator", _number(float), shown="10 s")
    docker_base_image: str = _setting(
        "AMLOCAL_DOCKER_BASE_IMAGE", "python:3.11-slim",
        "base image of the docker target's scoring image", shown="`python:3.11-slim`")
    azure_subscription_id: str | None = _setting(
        "AMLOCAL_AZURE_SUBSCRIPTION_ID", None, "ACI target: the Azure ML workspace's subscription "
        "(with the five below; else `config.json` as `Workspace.from_config()` finds it)",
        shown="—")
    azure_resource_group: str | None = _setting(
        "AMLOCAL_AZURE_RESOURCE_GROUP", None, "ACI target: its resource group", shown="—")
    azure_workspace_name: str | None = _setting(
        "AMLOCAL_AZURE_WORKSPACE_NAME", None, "ACI target: the workspace's name", shown="—")
    azure_tenant_id: str | None = _setting(
        "AMLOCAL_AZURE_TENANT_ID", None, "ACI target: the service principal's tenant", shown="—")
    azure_client_id: str | None = _setting(
        "AMLOCAL_AZURE_CLIENT_ID", None, "ACI target: the service principal's id", shown="—")
    azure_client_secret: str | None = _setting(
        "AMLOCAL_AZURE_CLIENT_SECRET", None, "ACI target: the service principal's secret",
        shown="—")

    @property
    def azure_service_principal(self) -> dict[str, str] | None:
        """The six AMLOCAL_AZURE_* values when all are set (else None: use config.json)."""
        values = {f.name[len("azure_"):]: getattr(self, f.name) for f in fields(self)
                  if f.name.startswith("azure_")}
        return values if all(values.values()) else None


SETTINGS_TABLE = [(f.metadata["env"], f.metadata["shown"] or str(f.default), f.metadata["meaning"])
                  for f in fields(Settings)]


def settings_table() -> str:
    """The README's settings table (tests/service/test_settings.py holds the README to it)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{env}` | {shown} | {meaning} |" for env, shown, meaning in SETTINGS_TABLE]
    return "\n".join(rows) + "\n"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from the `AMLOCAL_*` entries of `environ` (default os.environ), then overrides."""
    source = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        raw = source.get(spec.metadata["env"])
        if raw is not None and raw != "":
            try:
                values[spec.name] = spec.metadata["parse"](raw)
            except SettingsError as err:
                raise SettingsError(f"{spec.metadata['env']}={raw!r} {err}") from err
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["workspace"] = _path(str(values.get("workspace", DEFAULT_WORKSPACE)))
    return Settings(**values)
