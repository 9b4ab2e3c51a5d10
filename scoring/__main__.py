"""`python -m scoring` / `amlocal-scoring`: start the scoring server with Azure's options."""
from __future__ import annotations

import argparse
import os
import sys

from .settings import SettingsError, load_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The azmlinfsrv options we keep, plus --host, --health_port and --reuse_port."""
    parser = argparse.ArgumentParser(prog="amlocal-scoring", description="amlocal scoring server")
    parser.add_argument("--entry_script", help="score.py with init() and run() (AZUREML_ENTRY_SCRIPT)")
    parser.add_argument("--model_dir", help="folder holding the model files (AZUREML_MODEL_DIR)")
    parser.add_argument("--port", type=int, help="port to listen on (SERVER_PORT, default 5001)")
    parser.add_argument("--worker_count", type=int, help="gunicorn workers (WORKER_COUNT, default 1)")
    parser.add_argument("--host", help="address to bind (SERVER_HOST, default 127.0.0.1)")
    parser.add_argument("--health_port", type=int,
                        help="a second bind for health checks (Azure's separate health endpoint)")
    parser.add_argument("--reuse_port", action="store_true",
                        help="bind with SO_REUSEPORT so a new server can share the port during a swap")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    environ = dict(os.environ)
    environ.setdefault("AML_APP_ROOT", os.getcwd())
    for name, value in (("AZUREML_ENTRY_SCRIPT", args.entry_script), ("AZUREML_MODEL_DIR", args.model_dir),
                        ("SERVER_PORT", args.port), ("WORKER_COUNT", args.worker_count),
                        ("SERVER_HOST", args.host), ("AMLOCAL_HEALTH_PORT", args.health_port),
                        ("AMLOCAL_REUSE_PORT", "true" if args.reuse_port else None)):
        if value is not None:
            environ[name] = str(value)
    if not environ.get("AZUREML_ENTRY_SCRIPT"):
        print("Either provide an entry_script using --entry_script or set AZUREML_ENTRY_SCRIPT",
              file=sys.stderr)
        return 1
    try:
        settings = load_settings(environ)
    except SettingsError as err:
        print(f"Invalid setting: {err}", file=sys.stderr)
        return 2
    if not os.path.isfile(settings.entry_script_path):
        print(f"Entry script {settings.entry_script_path} does not exist", file=sys.stderr)
        return 1
    from .server import serve
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
