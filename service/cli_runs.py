"""`amlocal run submit|show|logs|list|cancel|metrics|download`."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from training import snapshot as snapshots

from .cli import add_json_flag, client_from, print_json, print_table
from .client import Client

TERMINAL = ("Completed", "Failed", "Canceled")


def register(sub) -> None:
    run = sub.add_parser("run", help="tracked runs").add_subparsers(dest="run_command",
                                                                      required=True)
    p = run.add_parser("submit", help="submit SCRIPT from SOURCE_DIR (args after --)")
    p.add_argument("source_dir", type=Path)
    p.add_argument("script")
    p.add_argument("--experiment", default="default")
    p.add_argument("--environment", help="NAME[:VERSION] of a registered environment")
    p.add_argument("--tag", action="append", default=[], help="KEY=VALUE (repeatable)")
    p.add_argument("--timeout", type=float, help="fail the run after this many seconds")
    p.add_argument("--wait", action="store_true", help="stream the log; exit 1 unless Completed")
    add_json_flag(p)
    p.set_defaults(func=submit)
    for name, func, help_ in (("show", show, "show a run"), ("cancel", cancel, "cancel a run"),
                              ("metrics", metrics, "a run's metrics")):
        p = run.add_parser(name, help=help_)
        p.add_argument("run_id")
        add_json_flag(p)
        p.set_defaults(func=func)
    p = run.add_parser("logs", help="print a run's log")
    p.add_argument("run_id")
    p.add_argument("--follow", "-f", action="store_true")
    p.set_defaults(func=logs)
    p = run.add_parser("list", help="list an experiment's runs")
    p.add_argument("--experiment", default="default")
    p.add_argument("--status")
    p.add_argument("--include-children", action="store_true", help="also a sweep's child runs")
    add_json_flag(p)
    p.set_defaults(func=list_runs)
    p = run.add_parser("download", help="download one of a run's files")
    p.add_argument("run_id")
    p.add_argument("path")
    p.add_argument("-o", "--output", type=Path)
    p.set_defaults(func=download)


def submit_source(client: Client, source_dir: Path, script: str, experiment: str,
                  arguments: list[str], tags: dict | None = None, environment=None,
                  timeout: float | None = None) -> dict:
    """Pack SOURCE_DIR (honouring .amlignore/.gitignore) and submit it."""
    config = {"script": script, "arguments": arguments, "tags": tags or {}}
    if environment:
        config["environment"] = environment
    if timeout:
        config["timeout_s"] = timeout
    with tempfile.TemporaryDirectory(prefix="amlocal-snapshot-") as tmp:
        packed = snapshots.pack(source_dir, Path(tmp) / "snapshot.tar.gz")
        return client.submit_run(experiment, packed.path, config)


def wait_for_run(client: Client, run: dict, out=sys.stdout) -> dict:
    """Azure ML's wait_for_completion(show_output=True): stream the log, then a summary."""
    web = f"{client.url}/runs/{run['id']}"
    out.write(f"RunId: {run['id']}\nWeb View: {web}\n\nStreaming user_logs/std_log.txt\n"
              f"{'=' * 31}\n\n")
    out.flush()
    for chunk in client.follow_logs(run["id"]):
        out.write(chunk.decode("utf-8", "replace"))
        out.flush()
    final = client.get_run(run["id"])
    out.write(f"\nExecution Summary\n=================\nRunId: {final['id']}\nWeb View: {web}\n"
              f"Status: {final['status']}\n")
    if final.get("error"):
        out.write(f"\nError:\n{final['error'].get('message', '')}\n")
    out.flush()
    return final


def submit(args) -> int:
    client = client_from(args)
    tags = dict(t.partition("=")[::2] for t in args.tag)
    run = submit_source(client, args.source_dir, args.script, args.experiment, args.passthrough,
                        tags, args.environment, args.timeout)
    if args.wait:
        run = wait_for_run(client, run, out=sys.stderr if args.json else sys.stdout)
    if args.json:
        print_json(run)
    elif not args.wait:
        print(f"{run['id']}  {run['status']}")
    return 0 if not args.wait or run["status"] == "Completed" else 1


def show(args) -> int:
    run = client_from(args).get_run(args.run_id)
    if args.json:
        print_json(run)
    else:
        for key in ("id", "experiment", "status", "script", "arguments", "tags", "properties",
                    "created_time", "start_time", "end_time", "error"):
            print(f"{key:>13}: {run.get(key)}")
    return 0


def cancel(args) -> int:
    run = client_from(args).post(f"/runs/{args.run_id}/cancel")
    print_json(run) if args.json else print(f"{run['id']}  {run['status']}")
    return 0


def metrics(args) -> int:
    values = client_from(args).metrics(args.run_id)
    if args.json:
        print_json(values)
    else:
        for name, value in values.items():
            print(f"{name}: {value}")
    return 0


def logs(args) -> int:
    client = client_from(args)
    if args.follow:
        for chunk in client.follow_logs(args.run_id):
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
    else:
        sys.stdout.write(client.request("GET", f"/runs/{args.run_id}/logs").text)
    return 0


def list_runs(args) -> int:
    params = {"status": args.status} if args.status else {}
    if args.include_children:
        params["include_children"] = "true"
    runs = client_from(args).get(f"/experiments/{args.experiment}/runs", params=params)["runs"]
    if args.json:
        print_json(runs)
    else:
        print_table(runs, ["id", "status", "script", "created_time"])
    return 0


def download(args) -> int:
    resp = client_from(args).request("GET", f"/runs/{args.run_id}/files/{args.path}")
    target = args.output or Path(Path(args.path).name)
    target.write_bytes(resp.content)
    print(target)
    return 0
