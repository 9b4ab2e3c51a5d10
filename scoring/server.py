"""Run the scoring app under gunicorn: one master, WORKER_COUNT workers, each loading the script once
(or the master loads it before forking, with WORKER_PRELOAD or --reuse_port)."""
from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.errors import HaltServer

from .logs import configure_logging, logger
from .settings import Settings

# gunicorn's master stops (and exits with this code) when a worker exits with it during boot,
# which is how Azure's server ends when init() fails.
WORKER_BOOT_ERROR = 3


def model_dir_tree(root: str, limit: int = 200) -> list[str]:
    """Up to `limit` lines of the model folder's tree (what init() could have found)."""
    lines = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        depth = os.path.relpath(folder, root).count(os.sep) + (folder != root)
        lines.append("    " * depth + os.path.basename(folder.rstrip(os.sep)) + os.sep)
        lines.extend("    " * (depth + 1) + name for name in sorted(files))
        if len(lines) >= limit:
            return lines[:limit] + ["..."]
    return lines or [f"{root} (missing or empty)"]


def load_worker_app(settings: Settings) -> Any:
    """Import the script, call init() once, build the WSGI app; exit 3 on failure (in each worker,
    or once in the master when it preloads)."""
    from .app import ScoringApp
    from .entry import EntryScript
    from .errors import StartupError
    script = EntryScript(settings.entry_script_path)
    try:
        script.load()
        logger.info("Invoking user's init function")
        init_ms = script.invoke_init()
        app = ScoringApp(settings, script)
    except StartupError as err:
        # The traceback matters when the user's code raised; a missing run() needs one clear line.
        cause = err.__cause__
        logger.error("Scoring server cannot start: %s", err, exc_info=cause if cause else None)
        if settings.model_dir:
            logger.error("AZUREML_MODEL_DIR holds:\n%s", "\n".join(model_dir_tree(settings.model_dir)))
        sys.exit(WORKER_BOOT_ERROR)
    logger.info("Users's init has completed successfully in %.1f ms", init_ms)
    logger.info("Scoring timeout is set to %d ms", settings.scoring_timeout_ms)
    # Everything loaded so far (the model) lives for the worker's life: keep the GC from rescanning it.
    gc.collect()
    gc.freeze()
    logger.info("Worker with pid %d ready for serving traffic", os.getpid())
    return app


def _child_exit(server: Any, worker: Any) -> None:
    from .metrics import mark_dead
    mark_dead(worker.pid)


def worker_class(settings: Settings) -> str:
    """gunicorn's worker_class for WORKER_CLASS; our keepalive worker falls back to sync on a
    gunicorn too old for it (a custom environment may pin one)."""
    if settings.worker_class != "keepalive":
        return settings.worker_class
    from . import worker
    if not worker.supported():
        import gunicorn
        logger.warning("gunicorn %s is older than 27: WORKER_CLASS=keepalive falls back to sync",
                       gunicorn.__version__)
        return "sync"
    # inherited by the forked workers
    worker.KeepAliveWorker.client_timeout_s = settings.client_timeout
    worker.KeepAliveWorker.max_request_bytes = settings.max_request_bytes
    return "scoring.worker.KeepAliveWorker"


class ScoringServer(BaseApplication):
    """gunicorn configured from Settings, not from gunicorn's command line."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        """Set gunicorn's options from the settings."""
        s = self.settings
        binds = [f"{s.host}:{s.port}"]
        if s.health_port and s.health_port != s.port:
            binds.append(f"{s.host}:{s.health_port}")
        options = {
            "bind": binds,
            "reuse_port": s.reuse_port,
            # With a shared port, a new generation must bind only once it can answer: load the
            # script and model in the master before the listener takes connections.
            "preload_app": s.worker_preload or s.reuse_port,
            "workers": s.worker_count,
            "worker_class": worker_class(s),
            # gunicorn turns "sync" into gthread when threads > 1.
            "threads": s.worker_threads if s.worker_class == "gthread" else 1,
            "timeout": s.worker_timeout,
            "keepalive": 75,
            "accesslog": None,
            "child_exit": _child_exit,
            "proc_name": "amlocal-scoring",
        }
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25 opens a control socket at a fixed path: two servers would collide on it.
            options["control_socket_disable"] = True
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Build the WSGI app (called in each worker)."""
        return load_worker_app(self.settings)


def serve(settings: Settings) -> int:
    """Run the server until it stops; return its exit code. Owns the metrics directory."""
    configure_logging()
    metrics_dir = tempfile.mkdtemp(prefix="amlocal-scoring-metrics-")
    # prometheus-client picks multiprocess mode from this variable when the workers import it.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    if settings.model_dir:
        os.environ["AZUREML_MODEL_DIR"] = settings.model_dir  # user init() reads it
    app_root = settings.app_root or os.getcwd()
    os.environ["AML_APP_ROOT"] = app_root
    sys.path.append(app_root)
    logger.info("amlocal scoring server: entry script %s, model dir %s, http://%s:%d, %d worker(s)",
                settings.entry_script_path, settings.model_dir or "(unset)", settings.host, settings.port,
                settings.worker_count)
    try:
        ScoringServer(settings).run()
        return 0
    except SystemExit as stop:  # gunicorn's arbiter leaves through sys.exit
        return stop.code if isinstance(stop.code, int) else 1
    except HaltServer as halt:
        # Two workers failing to boot together make gunicorn's halt() raise again from inside
        # itself; the workers were already told to stop, so only the exit status is left to give.
        logger.error("Shutting down: %s", halt.reason)
        return halt.exit_status
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
