"""`amlocal env register|list|show|build|log`."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .client import Client
from .output import exit_with, json_option, print_json, print_table
from .params import REFERENCE


def describe(env: dict) -> None:
    build = env["build"]
    print(f"{env['id']}  {env['kind']}{'  curated' if env['curated'] else ''}  "
          f"build: {build['state']} ({build['hash']})")
    print(env["definition"].rstrip("\n"))


@click.group("env", help="environments (conda/pip specs)")
def environments() -> None:
    pass


@environments.command(help="register FILE (.yml/.yaml conda, else pip) as NAME")
@click.argument("name")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--description")
@json_option
def register(name: str, file: Path, description: str | None, as_json: bool) -> None:
    env = Client().register_environment(name, file, description)
    if as_json:
        print_json(env)
    else:
        print(f"registered {env['id']} (build: {env['build']['state']})")


@environments.command("list", help="registered (latest versions) and curated environments")
@json_option
def list_environments(as_json: bool) -> None:
    envs = Client().get("/environments")["environments"]
    if as_json:
        print_json(envs)
        return
    rows = [{"name": e["name"], "version": e["version"], "kind": e["kind"],
             "curated": "yes" if e["curated"] else "", "python": e["python"] or "",
             "build": e["build"]["state"]} for e in envs]
    print_table(rows, ["name", "version", "kind", "curated", "python", "build"])


@environments.command(help="show NAME[:VERSION] (default latest) with its build state")
@click.argument("env", type=REFERENCE)
@json_option
def show(env: tuple[str, str], as_json: bool) -> None:
    name, version = env
    found = Client().get(f"/environments/{name}/versions/{version}")
    print_json(found) if as_json else describe(found)


@environments.command(help="build NAME[:VERSION] on the service's machine")
@click.argument("env", type=REFERENCE)
@click.option("--wait", is_flag=True, help="wait for the build; print its log")
@click.option("--timeout", type=float, default=3600.0, show_default=True,
              help="seconds to wait (--wait)")
@json_option
def build(env: tuple[str, str], wait: bool, timeout: float, as_json: bool) -> None:
    client = Client()
    name, version = env
    found = client.post(f"/environments/{name}/versions/{version}/build")
    if wait:  # the build log first (on stderr under --json, which keeps stdout one value)
        found = client.wait_built(name, str(found["version"]), timeout)
        log_text = client.request("GET", f"/environments/{name}/versions/{found['version']}"
                                         "/log").text
        (sys.stderr if as_json else sys.stdout).write(log_text)
    if as_json:
        print_json(found)
    else:
        print(f"{found['id']}: {found['build']['state']}")
    exit_with(1 if found["build"]["state"] == "Failed" else 0)


@environments.command(help="print the build log of NAME[:VERSION]")
@click.argument("env", type=REFERENCE)
@json_option
def log(env: tuple[str, str], as_json: bool) -> None:
    name, version = env
    text = Client().request("GET", f"/environments/{name}/versions/{version}/log").text
    if as_json:
        print_json({"environment": f"{name}:{version}", "log": text})
    else:
        sys.stdout.write(text)
