"""The `amlocal` command line: `serve`, `quickstart`, and one command group per resource."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, Callable

from .client import Client, ClientError

COMMAND_GROUPS = ["service.cli_runs", "service.cli_models", "service.cli_deployments",
                  "service.cli_envs", "service.cli_sweeps"]  # each module has register(subparsers)


def print_json(value: Any) -> None:
    """--json output."""
    json.dump(value, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain aligned table."""
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "") if row.get(c) is not None else "").ljust(widths[c])
                        for c in columns))


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the resource as JSON")


def _serve(args) -> int:
    from .serve import serve
    from .settings import load_settings

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname).1s %(name)s - %(message)s")
    return serve(load_settings(workspace=args.workspace), args.host, args.port)


def _quickstart(args) -> int:
    from .quickstart import quickstart

    return quickstart(workspace=args.workspace, port=args.port, keep_running=args.keep_running)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amlocal", description="Azure ML's scikit-learn loop, "
                                     "self-hosted: train, track, register, deploy, score.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the control API and the agent")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--workspace", help="workspace folder (AMLOCAL_WORKSPACE)")
    serve.set_defaults(func=_serve)
    quick = sub.add_parser("quickstart", help="start a service, train iris, show the results")
    quick.add_argument("--workspace")
    quick.add_argument("--port", type=int, default=None)
    quick.add_argument("--keep-running", action="store_true",
                       help="leave the service running at the end")
    quick.set_defaults(func=_quickstart)
    import importlib

    for module in COMMAND_GROUPS:
        importlib.import_module(module).register(sub)
    return parser


def split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """Everything after the first `--` goes to the script untouched."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def main(argv: list[str] | None = None) -> None:
    """Entry point: parse, dispatch, turn service errors into a message and exit code 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own, passthrough = split_passthrough(argv)
    args = build_parser().parse_args(own)
    args.passthrough = passthrough
    func: Callable = args.func
    try:
        code = func(args)
    except ClientError as err:
        print(f"amlocal: error: {err.message}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code or 0)


def client_from(args) -> Client:
    """The API client for a command (AMLOCAL_URL, token from env or workspace)."""
    return Client()


if __name__ == "__main__":
    main()
