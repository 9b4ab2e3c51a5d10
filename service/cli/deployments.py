"""`amlocal deploy`, `amlocal deployment list|show|logs|update|rollback|delete|keys`, `amlocal score`."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .client import Client, read_source
from .output import CommandError, exit_with, json_option, print_fields, print_json, print_table

SHOWN = ("name", "state", "target", "models", "scoring_uri", "swagger_uri", "auth_enabled",
         "error", "created_time", "updated_time")
HISTORY = ["generation", "models", "reason", "served_time", "ended_time", "outcome"]


def report(client: Client, dep: dict, wait: bool, as_json: bool) -> None:
    """Wait for the new generation (unless told not to), print the outcome, exit 1 unless it
    serves or is still on its way."""
    if wait:
        dep = client.wait_settled(dep["name"], dep["generation"])
    if as_json:
        print_json(dep)
    else:
        print(f"{dep['name']}: {dep['state']}")
        if dep.get("error"):
            print(f"error: {dep['error']}")
        if dep.get("scoring_uri"):
            print(f"scoring URI: {dep['scoring_uri']}")
    exit_with(0 if dep["state"] in ("Healthy", "Transitioning") else 1)


@click.command(help="deploy registered models (no-code, or with a score.py)")
@click.argument("name")
@click.option("--model", "models", multiple=True, required=True, metavar="NAME:VERSION",
              help="(repeatable)")
@click.option("--target", type=click.Choice(("local", "docker", "aci")), default="local",
              show_default=True)
@click.option("--entry-script", help="score.py (relative to --source-dir)")
@click.option("--source-dir", type=click.Path(path_type=Path), default=Path("."),
              help="folder holding the entry script (its .py/.json/.txt/.yml files are sent)")
@click.option("--run-id", help="take the entry script's source from this run's snapshot")
@click.option("--environment", metavar="NAME[:VERSION]",
              help="registered or curated environment the entry script runs in (with --entry-script; "
                   "default: the service's own Python)")
@click.option("--auth", is_flag=True, help="require a key (primary/secondary)")
@click.option("--port", type=int)
@click.option("--workers", type=int, help="scoring worker processes (default 1)")
@click.option("--max-batch-rows", type=int,
              help="rows of concurrent requests scored in one call (default 1000; 1: no batching)")
@click.option("--max-latency-ms", type=int, help="time a batch may take to gather (default 10)")
@click.option("--cpu", type=float, help="cpu cores (default: the model's resources)")
@click.option("--memory-gb", type=float)
@click.option("--overwrite", is_flag=True)
@click.option("--dry-run", is_flag=True, help="print what would be sent (ACI)")
@click.option("--no-wait", is_flag=True, help="do not wait for Healthy")
@json_option
def deploy(name: str, models: tuple[str, ...], target: str, entry_script: str | None,
           source_dir: Path, run_id: str | None, environment: str | None, auth: bool, port: int | None,
           workers: int | None, max_batch_rows: int | None, max_latency_ms: int | None,
           cpu: float | None, memory_gb: float | None, overwrite: bool,
           dry_run: bool, no_wait: bool, as_json: bool) -> None:
    config: dict[str, Any] = {"target": target, "auth_enabled": auth}
    for key, value in (("port", port), ("worker_count", workers), ("cpu_cores", cpu),
                       ("memory_gb", memory_gb), ("max_batch_rows", max_batch_rows),
                       ("max_latency_ms", max_latency_ms)):
        if value is not None:
            config[key] = value
    body: dict[str, Any] = {"name": name, "models": list(models), "deployment_config": config,
                            "overwrite": overwrite, "dry_run": dry_run}
    if environment and not entry_script:
        # Azure's InferenceConfig: an environment comes with an entry script; no-code uses its own.
        raise CommandError("--environment needs --entry-script (a no-code deployment runs in the "
                           "scoring environment its model was trained for)")
    if entry_script:
        source = {"run_id": run_id} if run_id else {"files": read_source(source_dir,
                                                                         entry_script)}
        body["inference_config"] = {"entry_script": entry_script, "source": source}
        if environment:
            body["inference_config"]["environment"] = environment
    client = Client()
    if dry_run:
        print_json(client.post("/deployments", json=body)["dry_run"])
        return
    report(client, client.post("/deployments", json=body), not no_wait, as_json)


@click.group("deployment", help="deployments")
def deployments() -> None:
    pass


@deployments.command("list", help="list deployments")
@json_option
def list_deployments(as_json: bool) -> None:
    found = Client().get("/deployments")["deployments"]
    if as_json:
        print_json(found)
    else:
        rows = [{**d, "models": ",".join(d["models"])} for d in found]
        print_table(rows, ["name", "state", "target", "models", "scoring_uri"])


@deployments.command(help="show a deployment")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    dep = Client().get(f"/deployments/{name}")
    if as_json:
        print_json(dep)
    else:
        print_fields(dep, SHOWN)
        print_table(dep["history"], HISTORY)


@deployments.command(help="go back to the previous version")
@click.argument("name")
@json_option
def rollback(name: str, as_json: bool) -> None:
    client = Client()
    report(client, client.post(f"/deployments/{name}/rollback"), True, as_json)


@deployments.command(help="stop and delete a deployment")
@click.argument("name")
@json_option
def delete(name: str, as_json: bool) -> None:
    body = Client().request("DELETE", f"/deployments/{name}", timeout=180).json()
    print_json(body) if as_json else print(f"{name}: {body.get('state')}")


@deployments.command(help="the scoring server's log")
@click.argument("name")
@click.option("--lines", type=int, default=5000, show_default=True)
@json_option
def logs(name: str, lines: int, as_json: bool) -> None:
    text = Client().request("GET", f"/deployments/{name}/logs", params={"lines": lines}).text
    if as_json:
        print_json({"name": name, "log": text})
    else:
        sys.stdout.write(text)


@deployments.command(help="change models, worker count or auth (no dropped request)")
@click.argument("name")
@click.option("--model", "models", multiple=True, metavar="NAME:VERSION", help="(repeatable)")
@click.option("--workers", type=int)
@click.option("--auth", type=click.Choice(("on", "off")))
@click.option("--no-wait", is_flag=True, help="do not wait for Healthy")
@json_option
def update(name: str, models: tuple[str, ...], workers: int | None, auth: str | None,
           no_wait: bool, as_json: bool) -> None:
    body: dict[str, Any] = {}
    if models:
        body["models"] = list(models)
    if workers is not None:
        body["worker_count"] = workers
    if auth:
        body["auth_enabled"] = auth == "on"
    client = Client()
    report(client, client.request("PATCH", f"/deployments/{name}", json=body).json(),
           not no_wait, as_json)


@deployments.command(help="show, or regenerate, the scoring keys")
@click.argument("name")
@click.option("--regenerate", type=click.Choice(("Primary", "Secondary")))
@json_option
def keys(name: str, regenerate: str | None, as_json: bool) -> None:
    client = Client()
    if regenerate:
        found = client.post(f"/deployments/{name}/keys/regenerate", json={"key": regenerate})
    else:
        found = client.get(f"/deployments/{name}/keys")
    print_json(found) if as_json else print(f"primary: {found['primary_key']}\n"
                                            f"secondary: {found['secondary_key']}")


@click.command(help="POST rows to a deployment's scoring URI")
@click.argument("name")
@click.option("--data", required=True, help="JSON rows, e.g. '[[5.1, 3.5, 1.4, 0.2]]'")
@click.option("--method", type=click.Choice(("predict", "predict_proba")))
@json_option
def score(name: str, data: str, method: str | None, as_json: bool) -> None:
    try:
        rows = json.loads(data)
    except ValueError as err:
        raise CommandError(f"--data is not JSON: {err}") from err
    answer = Client().score(name, rows, method)
    print_json(answer) if as_json else print(json.dumps(answer))
