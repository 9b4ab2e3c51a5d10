"""`amlocal container test`: the scoring image a docker/ACI deployment would run, as a contract."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from .client import Client, ClientError, read_source
from .output import CommandError, exit_with, json_option, print_json
from .params import REFERENCE

REPORT = "outputs/report.json"


@click.group("container", help="local container testing")
def container() -> None:
    pass


def _value(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def read_rows(path: Path) -> list:
    """Rows from a CSV file (a header row is skipped) or JSON (a list, or {"data": [...]})."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise CommandError(f"--data: cannot read {path}: {err.strerror}") from err
    if path.suffix.lower() == ".csv":
        rows = [[_value(cell.strip()) for cell in line] for line in csv.reader(text.splitlines())
                if line]
        if rows and all(isinstance(cell, str) for cell in rows[0]):
            rows = rows[1:]  # the header
    else:
        try:
            rows = json.loads(text)
        except ValueError as err:
            raise CommandError(f"--data: {path} is neither CSV (.csv) nor JSON: {err}") from err
        rows = rows.get("data") if isinstance(rows, dict) else rows
    if not isinstance(rows, list) or not rows:
        raise CommandError(f"--data: {path} holds no rows")
    return rows


def request_body(models: tuple, entry_script: str | None, source_dir: Path,
                 environment: str | None, data: Path | None, requests: int,
                 workers: int) -> dict:
    """The POST /container-tests body the options describe."""
    if environment and not entry_script:
        raise CommandError("--environment needs --entry-script (a no-code deployment runs in the "
                           "scoring environment its model was trained for)")
    body: dict[str, Any] = {"models": [f"{name}:{version}" for name, version in models],
                            "requests": requests, "deployment_config": {"worker_count": workers}}
    if entry_script:
        body["inference_config"] = {"entry_script": entry_script,
                                    "source": {"files": read_source(source_dir, entry_script)},
                                    "environment": environment}
    if data is not None:
        body["data"] = read_rows(data)
    return body


def wait(client: Client, run: dict, quiet: bool, timeout: float) -> dict:
    """Stream the test's log (unless quiet) until it ends; the final run."""
    for chunk in client.follow_logs(run["id"], timeout=timeout):
        if not quiet:
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
    return client.get_run(run["id"])  # the log ends when the run has ended


def print_report(report: dict) -> None:
    """The report for a person."""
    print(f"\ncontainer test {report['run_id']}: {'PASSED' if report['passed'] else 'FAILED'}")
    print(f"  image       {report['image']} ({report['image_mib']} MiB)")
    print(f"  startup     {report['startup_s']} s (docker run -> GET / Healthy)"
          if report["startup_s"] is not None else "  startup     never Healthy")
    if report["compared"]:
        compared = ", ".join(f"{k}: {v}" for k, v in report["compared"].items())
        print(f"  compared    {compared} rows; reference {report['reference']}; "
              f"floats within {report['tolerance']:g} relative")
    for miss in report["mismatches"]:
        where = f"row {miss['row']}" if miss["row"] is not None else "request"
        print(f"  MISMATCH    {miss['source']} {where} ({miss['method']}): expected "
              f"{miss['expected']!r}, got {miss['got']!r}"
              + (f"; input {miss['input']}" if "input" in miss else ""))
    for bad in report["bad_inputs"]:
        verdict = "ok" if bad["passed"] else f"FAILED: {bad['reason']}"
        print(f"  bad input   {bad['name']:<20} {bad['status']} {verdict}")
    for key in report["p50_ms"]:
        print(f"  latency     {key} connection(s): p50 {report['p50_ms'][key]} ms, "
              f"p99 {report['p99_ms'][key]} ms ({report['requests']} requests)")
    if report["memory_mib"] is not None:
        print(f"  memory      {report['memory_mib']} MiB")
    for failure in report["failures"]:
        print(f"  failure     {failure}")
    if report.get("log_tail"):
        print("  the container's log ends:")
        print("    " + "\n    ".join(report["log_tail"].rstrip().splitlines()))


@container.command("test", help="build the scoring image, start it, replay examples and bad "
                                "inputs, compare with the model, measure; exit 1 on a failure")
@click.option("--model", "models", type=REFERENCE, multiple=True, metavar="NAME[:VERSION]",
              help="a registered model (repeatable)")
@click.option("--entry-script", help="score.py (relative to --source-dir); default: no-code")
@click.option("--source-dir", type=click.Path(path_type=Path), default=Path("."),
              help="folder holding the entry script (its .py/.json/.txt/.yml files are sent)")
@click.option("--environment", metavar="NAME[:VERSION]",
              help="the environment the entry script runs in (with --entry-script)")
@click.option("--data", type=click.Path(path_type=Path, dir_okay=False),
              help="rows to replay and compare: CSV (header skipped) or JSON")
@click.option("--requests", type=click.IntRange(1, 10000), default=200, show_default=True,
              help="timed requests at 1 and at 8 connections")
@click.option("--workers", type=click.IntRange(1, 32), default=1, show_default=True,
              help="scoring worker processes")
@click.option("--timeout", type=float, default=1800, show_default=True,
              help="seconds to wait for the test (a first image build downloads packages)")
@json_option
def test(models: tuple, entry_script: str | None, source_dir: Path, environment: str | None,
         data: Path | None, requests: int, workers: int, timeout: float, as_json: bool) -> None:
    if not models and not entry_script:
        raise CommandError("give --model NAME[:VERSION] (no-code) or --entry-script")
    body = request_body(models, entry_script, source_dir, environment, data, requests, workers)
    client = Client()
    run = wait(client, client.post("/container-tests", json=body), as_json, timeout)
    try:
        report = client.request("GET", f"/runs/{run['id']}/files/{REPORT}").json()
    except ClientError as err:
        message = (run.get("error") or {}).get("message") or err.message
        raise CommandError(f"container test {run['id']} {run['status']}: {message}") from err
    print_json(report) if as_json else print_report(report)
    exit_with(0 if report["passed"] and run["status"] == "Completed" else 1)
