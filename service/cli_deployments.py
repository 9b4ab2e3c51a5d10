"""`amlocal deploy`, `amlocal deployment list|show|logs|update|rollback|delete|keys`, `amlocal score`."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import requests

from .cli import add_json_flag, client_from, print_json, print_table
from .client import Client, ClientError

SETTLED = ("Healthy", "Failed", "Unhealthy")
WAIT_TIMEOUT_S = 900.0
MAX_SOURCE_FILES = 1000


def register(sub) -> None:
    """Add `deploy`, `deployment ...` and `score` to the parser."""
    p = sub.add_parser("deploy", help="deploy registered models (no-code, or with a score.py)")
    p.add_argument("name", help="3-32 lowercase letters, digits, dashes; starts with a letter")
    p.add_argument("--model", action="append", required=True, metavar="NAME:VERSION")
    p.add_argument("--target", choices=("local", "docker", "aci"), default="local")
    p.add_argument("--entry-script", help="score.py (relative to --source-dir)")
    p.add_argument("--source-dir", type=Path, default=Path("."),
                   help="folder holding the entry script (its .py/.json/.txt/.yml files are sent)")
    p.add_argument("--run-id", help="take the entry script's source from this run's snapshot")
    p.add_argument("--auth", action="store_true", help="require a key (primary/secondary)")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, help="scoring worker processes (default 1)")
    p.add_argument("--cpu", type=float, help="cpu cores (default: the model's resources)")
    p.add_argument("--memory-gb", type=float)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="print what would be sent (ACI)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for Healthy")
    add_json_flag(p)
    p.set_defaults(func=deploy_command)

    group = sub.add_parser("deployment", help="deployments").add_subparsers(
        dest="deployment_command", required=True)
    p = group.add_parser("list", help="list deployments")
    add_json_flag(p)
    p.set_defaults(func=list_command)
    for name, func, help_ in (("show", show_command, "show a deployment"),
                              ("rollback", rollback_command, "go back to the previous version"),
                              ("delete", delete_command, "stop and delete a deployment")):
        p = group.add_parser(name, help=help_)
        p.add_argument("name")
        add_json_flag(p)
        p.set_defaults(func=func)
    p = group.add_parser("logs", help="the scoring server's log")
    p.add_argument("name")
    p.add_argument("--lines", type=int, default=5000)
    p.set_defaults(func=logs_command)
    p = group.add_parser("update", help="change models, worker count or auth (no dropped request)")
    p.add_argument("name")
    p.add_argument("--model", action="append", metavar="NAME:VERSION")
    p.add_argument("--workers", type=int)
    p.add_argument("--auth", choices=("on", "off"))
    p.add_argument("--no-wait", action="store_true")
    add_json_flag(p)
    p.set_defaults(func=update_command)
    p = group.add_parser("keys", help="show, or regenerate, the scoring keys")
    p.add_argument("name")
    p.add_argument("--regenerate", choices=("Primary", "Secondary"))
    add_json_flag(p)
    p.set_defaults(func=keys_command)

    p = sub.add_parser("score", help="POST rows to a deployment's scoring URI")
    p.add_argument("name")
    p.add_argument("--data", required=True, help="JSON rows, e.g. '[[5.1, 3.5, 1.4, 0.2]]'")
    p.add_argument("--method", choices=("predict", "predict_proba"))
    p.set_defaults(func=score_command)


def read_source(source_dir: Path, entry_script: str) -> dict[str, str]:
    """The text files of a small source folder (path → text) to send inline."""
    files = {}
    for path in sorted(source_dir.rglob("*")):
        rel = path.relative_to(source_dir).as_posix()
        if not path.is_file() or "__pycache__" in rel or rel.startswith("."):
            continue
        if path.suffix in (".py", ".json", ".txt", ".yml", ".yaml", ".cfg") or rel == entry_script:
            files[rel] = path.read_text(encoding="utf-8")
        if len(files) > MAX_SOURCE_FILES:
            raise ClientError(None, f"{source_dir} holds more than {MAX_SOURCE_FILES} files; "
                                    f"use --run-id or a smaller folder")
    return files


def deploy_body(args) -> dict:
    """The POST /deployments body for the command's arguments."""
    config = {"target": args.target, "auth_enabled": args.auth}
    for key, value in (("port", args.port), ("worker_count", args.workers),
                       ("cpu_cores", args.cpu), ("memory_gb", args.memory_gb)):
        if value is not None:
            config[key] = value
    body = {"name": args.name, "models": args.model, "deployment_config": config,
            "overwrite": args.overwrite, "dry_run": args.dry_run}
    if args.entry_script:
        source = ({"run_id": args.run_id} if args.run_id
                  else {"files": read_source(args.source_dir, args.entry_script)})
        body["inference_config"] = {"entry_script": args.entry_script, "source": source}
    return body


def wait_settled(client: Client, name: str, generation: int,
                 timeout_s: float = WAIT_TIMEOUT_S) -> dict:
    """Poll until `generation` serves (Healthy) or the deployment settles otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        dep = client.get(f"/deployments/{name}")
        served = dep.get("served_generation") == generation and dep["state"] == "Healthy"
        if served or (dep["state"] in SETTLED and dep["state"] != "Healthy"):
            return dep
        if time.monotonic() > deadline:
            return dep
        time.sleep(0.1)


def deploy_and_wait(client: Client, name: str, models: list[str], target: str = "local",
                    inference_config: dict | None = None, **deployment_config) -> dict:
    """Deploy and wait until it serves or fails (for the quickstart / main job); returns it."""
    body = {"name": name, "models": models, "overwrite": True,
            "deployment_config": {"target": target, **deployment_config}}
    if inference_config is not None:
        body["inference_config"] = inference_config
    dep = client.post("/deployments", json=body)
    return wait_settled(client, name, dep["generation"])


def _report(args, dep: dict, client: Client) -> int:
    if not getattr(args, "no_wait", False):
        dep = wait_settled(client, dep["name"], dep["generation"])
    if args.json:
        print_json(dep)
    else:
        print(f"{dep['name']}: {dep['state']}")
        if dep.get("error"):
            print(f"error: {dep['error']}")
        if dep.get("scoring_uri"):
            print(f"scoring URI: {dep['scoring_uri']}")
    return 0 if dep["state"] in ("Healthy", "Transitioning") else 1


def deploy_command(args) -> int:
    client = client_from(args)
    body = deploy_body(args)
    if args.dry_run:
        print_json(client.post("/deployments", json=body)["dry_run"])
        return 0
    return _report(args, client.post("/deployments", json=body), client)


def list_command(args) -> int:
    deployments = client_from(args).get("/deployments")["deployments"]
    if args.json:
        print_json(deployments)
    else:
        rows = [{**d, "models": ",".join(d["models"])} for d in deployments]
        print_table(rows, ["name", "state", "target", "models", "scoring_uri"])
    return 0


def show_command(args) -> int:
    dep = client_from(args).get(f"/deployments/{args.name}")
    if args.json:
        print_json(dep)
        return 0
    for key in ("name", "state", "target", "models", "scoring_uri", "swagger_uri",
                "auth_enabled", "error", "created_time", "updated_time"):
        print(f"{key}: {dep.get(key)}")
    print_table(dep["history"], ["generation", "models", "reason", "served_time", "ended_time",
                                 "outcome"])
    return 0


def logs_command(args) -> int:
    resp = client_from(args).request("GET", f"/deployments/{args.name}/logs",
                                     params={"lines": args.lines})
    sys.stdout.write(resp.text)
    return 0


def update_command(args) -> int:
    body: dict = {}
    if args.model:
        body["models"] = args.model
    if args.workers is not None:
        body["worker_count"] = args.workers
    if args.auth:
        body["auth_enabled"] = args.auth == "on"
    client = client_from(args)
    return _report(args, client.request("PATCH", f"/deployments/{args.name}",
                                        json=body).json(), client)


def rollback_command(args) -> int:
    args.no_wait = False
    client = client_from(args)
    return _report(args, client.post(f"/deployments/{args.name}/rollback"), client)


def delete_command(args) -> int:
    body = client_from(args).request("DELETE", f"/deployments/{args.name}",
                                     timeout=180).json()
    print_json(body) if args.json else print(f"{args.name}: {body.get('state')}")
    return 0


def keys_command(args) -> int:
    client = client_from(args)
    if args.regenerate:
        keys = client.post(f"/deployments/{args.name}/keys/regenerate",
                           json={"key": args.regenerate})
    else:
        keys = client.get(f"/deployments/{args.name}/keys")
    print_json(keys) if args.json else print(f"primary: {keys['primary_key']}\n"
                                             f"secondary: {keys['secondary_key']}")
    return 0


def score_command(args) -> int:
    """Webservice.run: POST {"data": ...} with the primary key when auth is on."""
    client = client_from(args)
    dep = client.get(f"/deployments/{args.name}")
    if not dep.get("scoring_uri"):
        raise ClientError(None, f"Error attempting to call webservice, scoring_uri unavailable "
                                f"(deployment {args.name} is {dep['state']}).")
    try:
        data = json.loads(args.data)
    except ValueError as err:
        raise ClientError(None, f"--data is not JSON: {err}") from err
    body = {"data": data, **({"method": args.method} if args.method else {})}
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if dep.get("auth_enabled"):
        headers["Authorization"] = f"Bearer {client.get(f'/deployments/{args.name}/keys')['primary_key']}"
    try:
        resp = requests.post(dep["scoring_uri"], json=body, headers=headers, timeout=60)
    except requests.RequestException as err:
        raise ClientError(None, f"cannot reach {dep['scoring_uri']}: {err}") from err
    if resp.status_code != 200:
        raise ClientError(resp.status_code, f"Received bad response from service: "
                                            f"{resp.text[:1000]}")
    print(json.dumps(resp.json()))
    return 0
