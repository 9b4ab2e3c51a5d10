"""`amlocal sweep submit|show|best`: HyperDrive-style sweeps from the command line."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import click

from .client import RUN_TERMINAL, Client
from .output import (CommandError, InvalidSpec, exit_with, json_option, print_json, print_table,
                     table_lines)
from .params import KEY_VALUE

POLL_S = 0.5


@click.group("sweep", help="hyperparameter sweeps (HyperDrive)")
def sweeps() -> None:
    pass


def sweep_config(script: str, arguments: list[str], params: list[str], metric: str, goal: str,
                 max_runs: int, sampling: str, seed: int | None = None,
                 concurrency: int | None = None, max_duration: int | None = None,
                 environment: str | None = None, timeout: float | None = None,
                 policy: str | None = None, tags: dict | None = None) -> dict:
    """The API's config from the command line (expressions and policy checked here first)."""
    # optuna comes with training.sweeps (0.7 s): only `sweep submit` pays for it
    from training.sweeps import SweepConfigError, parse_param_texts, parse_policy_text

    try:
        space = parse_param_texts(params)
        parsed_policy = parse_policy_text(policy) if policy else None
    except SweepConfigError as err:
        raise InvalidSpec(str(err)) from err
    sampler: dict[str, Any] = {"type": sampling, "space": space}
    if seed is not None:
        sampler["seed"] = seed
    config: dict[str, Any] = {"script": script, "arguments": arguments, "tags": tags or {},
                              "sampling": sampler,
                              "primary_metric": {"name": metric, "goal": goal},
                              "max_total_runs": max_runs}
    optional = {"max_concurrent_runs": concurrency, "max_duration_minutes": max_duration,
                "environment": environment, "timeout_s": timeout, "policy": parsed_policy}
    config.update({k: v for k, v in optional.items() if v is not None})
    return config


@sweeps.command(help="sweep SCRIPT from SOURCE_DIR over --param expressions "
                     "(base arguments after --)",
                short_help="sweep SCRIPT from SOURCE_DIR over --param expressions")
@click.argument("source_dir", type=click.Path(path_type=Path))
@click.argument("script")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED, metavar="[-- ARGS...]")
@click.option("--param", "params", multiple=True, required=True, metavar="NAME=EXPRESSION",
              help="e.g. '--kernel=choice(linear,rbf)' (repeatable)")
@click.option("--metric", required=True, help="primary metric, as the script logs it")
@click.option("--goal", default="maximize", show_default=True, help="maximize or minimize")
@click.option("--max-runs", type=int, required=True, help="max_total_runs")
@click.option("--concurrency", type=int, help="max_concurrent_runs")
@click.option("--max-duration", type=int, help="max_duration_minutes")
@click.option("--sampling", default="random", show_default=True,
              help="random, grid or bayesian")
@click.option("--policy", help="e.g. 'bandit(slack_factor=0.1, evaluation_interval=1)'")
@click.option("--seed", type=int, help="random/bayesian seed (the same seed, the same runs)")
@click.option("--experiment", default="default", show_default=True)
@click.option("--environment", metavar="NAME[:VERSION]", help="a registered environment")
@click.option("--tag", "tags", type=KEY_VALUE, multiple=True, help="(repeatable)")
@click.option("--timeout", type=float, help="fail each child after this many seconds")
@click.option("--compute", help="run the children on this compute target (default local)")
@click.option("--wait", is_flag=True,
              help="show the children live; end with the best run; exit 1 unless Completed")
@json_option
def submit(source_dir: Path, script: str, arguments: tuple[str, ...], params: tuple[str, ...],
           metric: str, goal: str, max_runs: int, concurrency: int | None,
           max_duration: int | None, sampling: str, policy: str | None, seed: int | None,
           experiment: str, environment: str | None, tags: tuple[tuple[str, str], ...],
           timeout: float | None, compute: str | None, wait: bool, as_json: bool) -> None:
    config = sweep_config(script, list(arguments), list(params), metric, goal, max_runs,
                          sampling, seed, concurrency, max_duration, environment, timeout,
                          policy, dict(tags))
    if compute:
        config["compute_target"] = compute
    client = Client()
    parent = client.submit_sweep(source_dir, experiment, config)
    for note in parent.get("sweep", {}).get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    if wait:
        parent = watch(client, parent["id"], sys.stderr if as_json else sys.stdout)
    if as_json:
        print_json(parent)
    elif not wait:
        print(f"{parent['id']}  {parent['status']}")
    exit_with(0 if not wait or parent["status"] == "Completed" else 1)


def child_table(children: list[dict], metric: str) -> list[dict]:
    """Rows of the children table: index, state, hyperparameters, best metric."""
    return [{"child": c["run_id"].rsplit("_", 1)[-1], "status": c["status"],
             "hyperparameters": " ".join(f"{k}={v}" for k, v in c["hyperparameters"].items()),
             metric: "" if c["best_primary_metric"] is None else f"{c['best_primary_metric']:.4g}"}
            for c in children]


def watch(client: Client, parent_id: str, out: TextIO) -> dict:
    """Follow a sweep until it ends: a redrawn table on a terminal, changes otherwise."""
    seen: dict[str, tuple] = {}
    drawn = 0
    out.write(f"Sweep {parent_id}\n")
    while True:
        parent = client.get_run(parent_id)
        metric = parent["summary"]["primary_metric"]["name"]
        rows = child_table(client.get(f"/runs/{parent_id}/children")["children"], metric)
        if out.isatty():
            out.write(f"\x1b[{drawn}F\x1b[J" if drawn else "")
            lines = table_lines(rows, ["child", "status", "hyperparameters", metric])
            out.write("\n".join(lines) + "\n")
            drawn = len(lines)
        else:
            for row in rows:
                key = (row["status"], row[metric])
                if seen.get(row["child"]) != key:
                    seen[row["child"]] = key
                    out.write(f"child {row['child']:>3}  {row['status']:<10} "
                              f"{row['hyperparameters']}  {metric}={row[metric] or '-'}\n")
        out.flush()
        if parent["status"] in RUN_TERMINAL:
            break
        time.sleep(POLL_S)
    print_ending(parent, out)
    return parent


def print_ending(parent: dict, out: TextIO) -> None:
    """The sweep's final state, why it stopped, and its best run."""
    summary = parent["summary"]
    out.write(f"\nStatus: {parent['status']}  ({summary['children']} children: "
              f"{', '.join(f'{n} {s}' for s, n in summary['children_by_state'].items())})\n")
    if summary.get("stop_reason"):
        out.write(f"Stopped: {summary['stop_reason']}\n")
    if parent.get("error"):
        out.write(f"Error: {parent['error'].get('message', '')}\n")
    best = summary.get("best")
    if best:
        out.write(f"Best run: {best['run_id']}  {summary['primary_metric']['name']}="
                  f"{best['best_primary_metric']:.4g}  {json.dumps(best['hyperparameters'])}\n")
    else:
        out.write(f"Best run: none (no child logged {summary['primary_metric']['name']!r})\n")
    out.flush()


@sweeps.command(help="a sweep's progress and children")
@click.argument("run_id")
@json_option
def show(run_id: str, as_json: bool) -> None:
    """Progress, then the children best first."""
    client = Client()
    parent = client.get_run(run_id)
    if parent.get("kind") != "sweep":
        raise CommandError(f"run {run_id} is not a sweep")
    children = client.get(f"/runs/{run_id}/children",
                          params={"sort": "primary_metric"})["children"]
    if as_json:
        print_json({**parent, "children": children})
        return
    metric = parent["summary"]["primary_metric"]["name"]
    print(f"Sweep {parent['id']}  {parent['status']}")
    print_table(child_table(children, metric), ["child", "status", "hyperparameters", metric])
    print_ending(parent, sys.stdout)


@sweeps.command(help="a sweep's best child by the primary metric")
@click.argument("run_id")
@click.option("-q", "--quiet", is_flag=True, help="print only the best run's id")
@json_option
def best(run_id: str, quiet: bool, as_json: bool) -> None:
    """The best child (exit 1 with the reason when there is none)."""
    row = Client().get(f"/runs/{run_id}/best")
    if as_json:
        print_json(row)
    elif quiet:
        print(row["run_id"])
    else:
        print(f"{row['run_id']}  {row['status']}  {row['best_primary_metric']:.6g}  "
              f"{json.dumps(row['hyperparameters'])}")
