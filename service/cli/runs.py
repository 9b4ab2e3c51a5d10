"""`amlocal run submit|show|logs|list|cancel|metrics|download`."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .client import Client
from .output import exit_with, json_option, print_fields, print_json, print_table
from .params import KEY_VALUE

SHOWN = ("id", "experiment", "status", "script", "arguments", "tags", "properties",
         "created_time", "start_time", "end_time", "error")


@click.group("run", help="tracked runs")
def runs() -> None:
    pass


@runs.command(help="submit SCRIPT from SOURCE_DIR (args after --)")
@click.argument("source_dir", type=click.Path(path_type=Path))
@click.argument("script")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED, metavar="[-- ARGS...]")
@click.option("--experiment", default="default", show_default=True)
@click.option("--environment", metavar="NAME[:VERSION]", help="a registered environment")
@click.option("--tag", "tags", type=KEY_VALUE, multiple=True, help="a tag (repeatable)")
@click.option("--timeout", type=float, help="fail the run after this many seconds")
@click.option("--compute", help="a compute target (amlocal compute list; default local)")
@click.option("--wait", is_flag=True, help="stream the log; exit 1 unless Completed")
@json_option
def submit(source_dir: Path, script: str, arguments: tuple[str, ...], experiment: str,
           environment: str | None, tags: tuple[tuple[str, str], ...], timeout: float | None,
           compute: str | None, wait: bool, as_json: bool) -> None:
    client = Client()
    run = client.submit_source(source_dir, script, experiment, list(arguments), dict(tags),
                               environment, timeout, compute)
    if wait:
        run = client.wait_for_run(run, out=sys.stderr if as_json else sys.stdout)
    if as_json:
        print_json(run)
    elif not wait:
        print(f"{run['id']}  {run['status']}")
    exit_with(0 if not wait or run["status"] == "Completed" else 1)


@runs.command(help="show a run")
@click.argument("run_id")
@json_option
def show(run_id: str, as_json: bool) -> None:
    run = Client().get_run(run_id)
    print_json(run) if as_json else print_fields(run, SHOWN, width=13)


@runs.command(help="cancel a run")
@click.argument("run_id")
@json_option
def cancel(run_id: str, as_json: bool) -> None:
    run = Client().post(f"/runs/{run_id}/cancel")
    print_json(run) if as_json else print(f"{run['id']}  {run['status']}")


@runs.command(help="a run's metrics")
@click.argument("run_id")
@json_option
def metrics(run_id: str, as_json: bool) -> None:
    values = Client().metrics(run_id)
    if as_json:
        print_json(values)
    else:
        for name, value in values.items():
            print(f"{name}: {value}")


@runs.command(help="print a run's log")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="until the run ends")
@json_option
def logs(run_id: str, follow: bool, as_json: bool) -> None:
    client = Client()
    if as_json:  # the whole log as one value (with --follow, once the run has ended)
        chunks = client.follow_logs(run_id) if follow else [
            client.request("GET", f"/runs/{run_id}/logs").content]
        print_json({"run_id": run_id, "log": b"".join(chunks).decode("utf-8", "replace")})
    elif follow:
        for chunk in client.follow_logs(run_id):
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
    else:
        sys.stdout.write(client.request("GET", f"/runs/{run_id}/logs").text)


@runs.command("list", help="list an experiment's runs")
@click.option("--experiment", default="default", show_default=True)
@click.option("--status", help="only runs in this state")
@click.option("--include-children", is_flag=True, help="also a sweep's child runs")
@json_option
def list_runs(experiment: str, status: str | None, include_children: bool,
              as_json: bool) -> None:
    params = {"status": status} if status else {}
    if include_children:
        params["include_children"] = "true"
    found = Client().get(f"/experiments/{experiment}/runs", params=params)["runs"]
    print_json(found) if as_json else print_table(found, ["id", "status", "script",
                                                          "created_time"])


@runs.command(help="download one of a run's files")
@click.argument("run_id")
@click.argument("path")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="target file (default: the file's name, here)")
@json_option
def download(run_id: str, path: str, output: Path | None, as_json: bool) -> None:
    resp = Client().request("GET", f"/runs/{run_id}/files/{path}")
    target = output or Path(Path(path).name)
    target.write_bytes(resp.content)
    print_json({"run_id": run_id, "path": path, "file": str(target)}) if as_json else print(target)
