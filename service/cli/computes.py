"""`amlocal compute create|list|show|delete`: where runs execute (local, or a Ray cluster)."""
from __future__ import annotations

import click

from .client import Client
from .output import json_option, print_json, print_table


def describe(target: dict) -> None:
    print(f"{target['name']}  {target['type']}  {target.get('address') or ''}".rstrip())
    if "state" not in target:
        return
    if target["state"] == "Unreachable":
        print(f"state: Unreachable: {target.get('message')}")
        return
    print(f"state: {target['state']}  ray {target['ray_version']}  "
          f"CPUs free {target['cpus_free']:g} of {target['cpus_total']:g}")
    print_table([{**n, "head": "head" if n["head"] else "", "cpus": f"{n['cpus']:g}"}
                 for n in target["nodes"]], ["node_id", "ip", "state", "cpus", "head"])


@click.group("compute", help="compute targets: local, or a Ray cluster")
def computes() -> None:
    pass


@computes.command(help="add NAME: a Ray cluster by its dashboard address, or (--type local) "
                       "another name for the agent")
@click.argument("name")
@click.option("--type", "type_", default="ray", show_default=True,
              type=click.Choice(["ray", "local"]), help="ray, or local: runs go to the agent")
@click.option("--address", default="", help="ray: the dashboard, e.g. http://127.0.0.1:8265")
@click.option("--description", default="")
@json_option
def create(name: str, type_: str, address: str, description: str, as_json: bool) -> None:
    target = Client().post("/computes", json={"name": name, "type": type_, "address": address,
                                              "description": description})
    print_json(target) if as_json else describe(target)


@computes.command("list", help="every compute target")
@json_option
def list_computes(as_json: bool) -> None:
    found = Client().get("/computes")["computes"]
    print_json(found) if as_json else print_table(found, ["name", "type", "address"])


@computes.command(help="show NAME with its cluster's nodes and free CPUs")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    target = Client().get(f"/computes/{name}")
    print_json(target) if as_json else describe(target)


@computes.command(help="delete NAME (refused while runs on it are unfinished)")
@click.argument("name")
@json_option
def delete(name: str, as_json: bool) -> None:
    Client().request("DELETE", f"/computes/{name}")
    print_json({"deleted": name}) if as_json else print(f"deleted {name}")
