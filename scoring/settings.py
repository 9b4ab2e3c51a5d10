"""Every setting of the scoring server, declared once with its default and type."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

from . import BATCHING_VARIABLES


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _positive_int(name: str) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError as err:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from err
        if value <= 0:
            raise SettingsError(f"{name} must be greater than 0, got {value}")
        return value
    return parse


def _flag(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _keys(raw: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def _setting(env: str, default: Any, parse: Callable[[str], Any] = str) -> Any:
    return field(default=default, metadata={"env": env, "parse": parse})


@dataclass(frozen=True)
class Settings:
    """The scoring server's configuration (read once, at start-up)."""

    entry_script: str = _setting("AZUREML_ENTRY_SCRIPT", "")
    model_dir: str = _setting("AZUREML_MODEL_DIR", "")
    app_root: str = _setting("AML_APP_ROOT", "")
    host: str = _setting("SERVER_HOST", "127.0.0.1")
    port: int = _setting("SERVER_PORT", 5001, _positive_int("SERVER_PORT"))
    # A second bind answering every route, for health probes (Azure's --health_port); 0 = none.
    health_port: int = _setting("AMLOCAL_HEALTH_PORT", 0, _positive_int("AMLOCAL_HEALTH_PORT"))
    # SO_REUSEPORT, so a new server generation can share the port during a deployment swap.
    reuse_port: bool = _setting("AMLOCAL_REUSE_PORT", False, _flag)
    # Load the script and model in the master before forking (Azure's WORKER_PRELOAD).
    worker_preload: bool = _setting("WORKER_PRELOAD", False, _flag)
    worker_count: int = _setting("WORKER_COUNT", 1, _positive_int("WORKER_COUNT"))
    # Threads per gthread worker: they keep connections alive, the GIL serialises run() anyway.
    worker_threads: int = _setting("WORKER_THREADS", 4, _positive_int("WORKER_THREADS"))
    # keepalive (scoring/worker.py): connections kept alive, requests run in the worker's main
    # thread; measured faster than sync (azmlinfsrv's) and gthread (bench/README.md). Any gunicorn
    # worker class name or dotted path also works.
    worker_class: str = _setting("WORKER_CLASS", "keepalive")
    # Seconds a request may take to arrive whole (head and body, from its first byte; else 408)
    # and a response to be taken, under the keepalive worker. A slow client never holds it.
    client_timeout: int = _setting("AMLOCAL_CLIENT_TIMEOUT", 10, _positive_int("AMLOCAL_CLIENT_TIMEOUT"))
    worker_timeout: int = _setting("WORKER_TIMEOUT", 300, _positive_int("WORKER_TIMEOUT"))
    scoring_timeout_ms: int = _setting("SCORING_TIMEOUT_MS", 3_600_000,
                                       _positive_int("SCORING_TIMEOUT_MS"))
    max_request_bytes: int = _setting("MAX_REQUEST_BYTES", 100 * 1024 * 1024,
                                      _positive_int("MAX_REQUEST_BYTES"))
    # Adaptive micro-batching (scoring/batching.py, keepalive worker): the rows of concurrent
    # requests already read are scored in one run() call of at most this many rows (1: off),
    # gathered for at most this many milliseconds. BentoML's max_batch_size / max_latency_ms.
    max_batch_rows: int = _setting(BATCHING_VARIABLES["max_batch_rows"], 1000,
                                   _positive_int(BATCHING_VARIABLES["max_batch_rows"]))
    max_latency_ms: int = _setting(BATCHING_VARIABLES["max_latency_ms"], 10,
                                   _positive_int(BATCHING_VARIABLES["max_latency_ms"]))
    scoring_keys: tuple[str, ...] = _setting("AMLOCAL_SCORING_KEYS", (), _keys)
    server_version: str = _setting("HTTP_X_MS_SERVER_VERSION", "")

    @property
    def entry_script_path(self) -> str:
        """The entry script's absolute path (relative paths are taken from the app root)."""
        return os.path.abspath(os.path.join(self.app_root or os.getcwd(), self.entry_script))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from a mapping of variable names (default: the process environment)."""
    source = os.environ if environ is None else environ
    values = {}
    for spec in fields(Settings):
        raw = source.get(spec.metadata["env"])
        if raw is not None and raw != "":
            values[spec.name] = spec.metadata["parse"](raw)
    return Settings(**values)
