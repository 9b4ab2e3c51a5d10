"""`amlocal env register|list|show|build|log`."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .cli import add_json_flag, client_from, print_json, print_table
from .client import Client, ClientError

DONE = ("Succeeded", "Failed")
POLL_S = 0.5


def register(sub) -> None:
    """Add the `env` command group to the parser."""
    env = sub.add_parser("env", help="environments (conda/pip specs)").add_subparsers(
        dest="env_command", required=True)
    p = env.add_parser("register", help="register FILE (.yml/.yaml conda, else pip) as NAME")
    p.add_argument("name")
    p.add_argument("file", type=Path)
    p.add_argument("--description")
    add_json_flag(p)
    p.set_defaults(func=register_command)
    p = env.add_parser("list", help="registered (latest versions) and curated environments")
    add_json_flag(p)
    p.set_defaults(func=list_command)
    p = env.add_parser("show", help="show NAME[:VERSION] (default latest) with its build state")
    p.add_argument("env")
    add_json_flag(p)
    p.set_defaults(func=show_command)
    p = env.add_parser("build", help="build NAME[:VERSION] on the service's machine")
    p.add_argument("env")
    p.add_argument("--wait", action="store_true", help="wait for the build; print its log")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (--wait)")
    add_json_flag(p)
    p.set_defaults(func=build_command)
    p = env.add_parser("log", help="print the build log of NAME[:VERSION]")
    p.add_argument("env")
    p.set_defaults(func=log_command)


# -- verbs others call ------------------------------------------------------------------------

def register_file(client: Client, name: str, path: Path, description: str | None = None) -> dict:
    """Azure's Environment.from_conda_specification / from_pip_requirements + register()."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ClientError(None, f"cannot read {path}: {err}") from err
    key = "conda_spec" if path.suffix.lower() in (".yml", ".yaml") else "pip_requirements"
    body = {"name": name, key: text}
    if description is not None:
        body["description"] = description
    return client.post("/environments", json=body)


def wait_built(client: Client, name: str, version: str, timeout: float) -> dict:
    """Poll an environment until its build Succeeded or Failed (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    while True:
        env = client.get(f"/environments/{name}/versions/{version}")
        if env["build"]["state"] in DONE:
            return env
        if time.monotonic() > deadline:
            raise ClientError(None, f"environment {env['id']} still {env['build']['state']} "
                                    f"after {timeout:g} s")
        time.sleep(POLL_S)


def _ref(text: str) -> tuple[str, str]:
    name, sep, version = text.rpartition(":")
    return (name, version) if sep else (text, "latest")


def _print_env(env: dict) -> None:
    build = env["build"]
    print(f"{env['id']}  {env['kind']}{'  curated' if env['curated'] else ''}  "
          f"build: {build['state']} ({build['hash']})")
    print(env["definition"].rstrip("\n"))


# -- commands ---------------------------------------------------------------------------------

def register_command(args) -> int:
    env = register_file(client_from(args), args.name, args.file, args.description)
    if args.json:
        print_json(env)
    else:
        print(f"registered {env['id']} (build: {env['build']['state']})")
    return 0


def list_command(args) -> int:
    envs = client_from(args).get("/environments")["environments"]
    if args.json:
        print_json(envs)
        return 0
    rows = [{"name": e["name"], "version": e["version"], "kind": e["kind"],
             "curated": "yes" if e["curated"] else "", "python": e["python"] or "",
             "build": e["build"]["state"]} for e in envs]
    print_table(rows, ["name", "version", "kind", "curated", "python", "build"])
    return 0


def show_command(args) -> int:
    name, version = _ref(args.env)
    env = client_from(args).get(f"/environments/{name}/versions/{version}")
    if args.json:
        print_json(env)
    else:
        _print_env(env)
    return 0


def build_command(args) -> int:
    client = client_from(args)
    name, version = _ref(args.env)
    env = client.post(f"/environments/{name}/versions/{version}/build")
    if args.wait:
        env = wait_built(client, name, str(env["version"]), args.timeout)
        sys.stdout.write(client.request("GET", f"/environments/{name}/versions/"
                                               f"{env['version']}/log").text)
    if args.json:
        print_json(env)
    else:
        print(f"{env['id']}: {env['build']['state']}")
    return 1 if env["build"]["state"] == "Failed" else 0


def log_command(args) -> int:
    name, version = _ref(args.env)
    sys.stdout.write(client_from(args).request("GET", f"/environments/{name}/versions/{version}"
                                                      "/log").text)
    return 0
