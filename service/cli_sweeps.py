"""`amlocal sweep submit|show|best`: HyperDrive-style sweeps from the command line."""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from training import snapshot as snapshots
from training.sweeps import SweepConfigError, parse_param_texts, parse_policy_text

from .cli import add_json_flag, client_from, print_json, print_table
from .client import Client

TERMINAL = ("Completed", "Failed", "Canceled")
POLL_S = 0.5
_EXPRESSION = re.compile(r"^[a-z]+\(")


class SweepArgumentParser(argparse.ArgumentParser):
    """Lets `--param --kernel=choice(a,b)` through: a dashed NAME=EXPRESSION is a value here."""

    def _parse_optional(self, arg_string):  # argparse's hook for "is this an option?"
        name, equals, value = arg_string.partition("=")
        if equals and name not in self._option_string_actions and _EXPRESSION.match(value):
            return None
        return super()._parse_optional(arg_string)


def register(sub) -> None:
    """Add `sweep submit|show|best` to the parser."""
    sweep = sub.add_parser("sweep", help="hyperparameter sweeps (HyperDrive)").add_subparsers(
        dest="sweep_command", required=True, parser_class=SweepArgumentParser)
    p = sweep.add_parser("submit", help="sweep SCRIPT from SOURCE_DIR over --param expressions "
                                        "(base arguments after --)")
    p.add_argument("source_dir", type=Path)
    p.add_argument("script")
    p.add_argument("--param", action="append", default=[], required=True,
                   help="NAME=EXPRESSION, e.g. '--kernel=choice(linear,rbf)' (repeatable)")
    p.add_argument("--metric", required=True, help="primary metric, as the script logs it")
    p.add_argument("--goal", default="maximize", help="maximize or minimize")
    p.add_argument("--max-runs", type=int, required=True, help="max_total_runs")
    p.add_argument("--concurrency", type=int, help="max_concurrent_runs")
    p.add_argument("--max-duration", type=int, help="max_duration_minutes")
    p.add_argument("--sampling", default="random", help="random, grid or bayesian")
    p.add_argument("--policy", help="e.g. 'bandit(slack_factor=0.1, evaluation_interval=1)'")
    p.add_argument("--seed", type=int, help="random/bayesian seed (the same seed, the same runs)")
    p.add_argument("--experiment", default="default")
    p.add_argument("--environment", help="NAME[:VERSION] of a registered environment")
    p.add_argument("--tag", action="append", default=[], help="KEY=VALUE (repeatable)")
    p.add_argument("--timeout", type=float, help="fail each child after this many seconds")
    p.add_argument("--wait", action="store_true",
                   help="show the children live; end with the best run; exit 1 unless Completed")
    add_json_flag(p)
    p.set_defaults(func=submit)
    for name, func, help_ in (("show", show, "a sweep's progress and children"),
                              ("best", best, "a sweep's best child by the primary metric")):
        p = sweep.add_parser(name, help=help_)
        p.add_argument("run_id")
        add_json_flag(p)
        p.set_defaults(func=func)
    p.add_argument("-q", "--quiet", action="store_true", help="print only the best run's id")


def sweep_config(args: argparse.Namespace) -> dict:
    """The API's config from the command line (expressions and policy checked here first)."""
    sampling: dict[str, Any] = {"type": args.sampling, "space": parse_param_texts(args.param)}
    if args.seed is not None:
        sampling["seed"] = args.seed
    config: dict[str, Any] = {"script": args.script, "arguments": args.passthrough,
                              "tags": dict(t.partition("=")[::2] for t in args.tag),
                              "sampling": sampling,
                              "primary_metric": {"name": args.metric, "goal": args.goal},
                              "max_total_runs": args.max_runs}
    optional = {"max_concurrent_runs": args.concurrency, "max_duration_minutes": args.max_duration,
                "environment": args.environment, "timeout_s": args.timeout}
    config.update({k: v for k, v in optional.items() if v is not None})
    if args.policy:
        config["policy"] = parse_policy_text(args.policy)
    return config


def submit_sweep(client: Client, source_dir: Path, experiment: str, config: dict) -> dict:
    """Pack SOURCE_DIR (honouring .amlignore/.gitignore) and submit the sweep."""
    with tempfile.TemporaryDirectory(prefix="amlocal-snapshot-") as tmp:
        packed = snapshots.pack(source_dir, Path(tmp) / "snapshot.tar.gz")
        with open(packed.path, "rb") as fh:
            return client.post(f"/experiments/{experiment}/sweeps",
                               files={"snapshot": ("snapshot.tar.gz", fh, "application/gzip")},
                               data={"config": json.dumps(config)})


def submit(args: argparse.Namespace) -> int:
    """`amlocal sweep submit`."""
    try:
        config = sweep_config(args)
    except SweepConfigError as err:
        print(f"amlocal: error: {err}", file=sys.stderr)
        return 2
    client = client_from(args)
    parent = submit_sweep(client, args.source_dir, args.experiment, config)
    for note in parent.get("sweep", {}).get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    if args.wait:
        parent = watch(client, parent["id"], sys.stderr if args.json else sys.stdout)
    if args.json:
        print_json(parent)
    elif not args.wait:
        print(f"{parent['id']}  {parent['status']}")
    return 0 if not args.wait or parent["status"] == "Completed" else 1


def child_table(children: list[dict], metric: str) -> list[dict]:
    """Rows of the children table: index, state, hyperparameters, best metric."""
    return [{"child": c["run_id"].rsplit("_", 1)[-1], "status": c["status"],
             "hyperparameters": " ".join(f"{k}={v}" for k, v in c["hyperparameters"].items()),
             metric: "" if c["best_primary_metric"] is None else f"{c['best_primary_metric']:.4g}"}
            for c in children]


def render_table(rows: list[dict], columns: list[str]) -> list[str]:
    """An aligned table as lines (the live view redraws them in place)."""
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    head = "  ".join(c.upper().ljust(widths[c]) for c in columns)
    return [head] + ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]


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
            lines = render_table(rows, ["child", "status", "hyperparameters", metric])
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
        if parent["status"] in TERMINAL:
            break
        time.sleep(POLL_S)
    print_ending(parent, client, out)
    return parent


def print_ending(parent: dict, client: Client, out: TextIO) -> None:
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


def show(args: argparse.Namespace) -> int:
    """`amlocal sweep show RUN_ID`: progress, then the children best first."""
    client = client_from(args)
    parent = client.get_run(args.run_id)
    if parent.get("kind") != "sweep":
        print(f"amlocal: error: run {args.run_id} is not a sweep", file=sys.stderr)
        return 1
    children = client.get(f"/runs/{args.run_id}/children",
                          params={"sort": "primary_metric"})["children"]
    if args.json:
        print_json({**parent, "children": children})
        return 0
    metric = parent["summary"]["primary_metric"]["name"]
    print(f"Sweep {parent['id']}  {parent['status']}")
    print_table(child_table(children, metric), ["child", "status", "hyperparameters", metric])
    print_ending(parent, client, sys.stdout)
    return 0


def best(args: argparse.Namespace) -> int:
    """`amlocal sweep best RUN_ID`: the best child (exit 1 with the reason when there is none)."""
    row = client_from(args).get(f"/runs/{args.run_id}/best")
    if args.json:
        print_json(row)
    elif args.quiet:
        print(row["run_id"])
    else:
        print(f"{row['run_id']}  {row['status']}  {row['best_primary_metric']:.6g}  "
              f"{json.dumps(row['hyperparameters'])}")
    return 0
