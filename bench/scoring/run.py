"""Scoring benchmark: ours against azmlinfsrv and mlflow, same model and workers, in one run.

Run from the repository root:  .venv/bin/python -m bench.scoring.run [--duration 4]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from . import fixtures as fx
from . import load as wrkload
from . import peers, report, servers

REPO = peers.REPO
OURS_PYTHON = Path(sys.executable)
DEFAULT_SERVERS = ["azmlinfsrv-undecorated", "azmlinfsrv-decorated", "mlflow",
                   "ours-nocode", "ours-iris"]
EXTRA_SERVERS = ["ours-undecorated", "ours-decorated", "ours-nocode-sync", "flask-minimal"]
# Which azmlinfsrv run each of ours is held against (same kind of entry script), for the targets.
PAIRS = [("ours-nocode", "azmlinfsrv-undecorated"), ("ours-iris", "azmlinfsrv-decorated"),
         ("ours-nocode-sync", "azmlinfsrv-undecorated"),
         ("ours-undecorated", "azmlinfsrv-undecorated"), ("ours-decorated", "azmlinfsrv-decorated")]


def _venv_env(venv: Path) -> tuple[tuple[str, str], ...]:
    """PATH with the venv's bin first: mlflow starts `uvicorn` by name."""
    return (("PATH", f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"),)


def _ours(name: str, entry: Path, model_dir: Path, predictions,
          env: tuple[tuple[str, str], ...] = ()) -> servers.ServerSpec:
    """Our scoring server (`python -m scoring`) with one entry script."""
    return servers.ServerSpec(
        name, lambda port, w: [str(OURS_PYTHON), "-m", "scoring", "--entry_script", str(entry),
                               "--model_dir", str(model_dir), "--port", str(port),
                               "--worker_count", str(w)],
        body_kind="azureml", predictions=predictions, env=env)


def _azml(name: str, entry: Path, f: fx.Fixtures) -> servers.ServerSpec:
    """azmlinfsrv 1.5.1 from its venv, through the loopback launcher."""
    peer = peers.PEERS["azmlinfsrv"]
    return servers.ServerSpec(
        name, lambda port, w: [str(peer.python), str(f.azml_launcher), "--entry_script", str(entry),
                               "--model_dir", str(f.model_dir), "--port", str(port),
                               "--worker_count", str(w)],
        body_kind="azureml", predictions=lambda body: body, env=_venv_env(peer.venv))


def build_specs(f: fx.Fixtures) -> dict[str, servers.ServerSpec]:
    """Every server the bench knows, by name."""
    mlflow = peers.PEERS["mlflow"]
    return {
        "azmlinfsrv-undecorated": _azml("azmlinfsrv-undecorated", f.undecorated_score, f),
        "azmlinfsrv-decorated": _azml("azmlinfsrv-decorated", f.decorated_score, f),
        "mlflow": servers.ServerSpec(
            "mlflow", lambda port, w: [str(mlflow.executable), "models", "serve", "-m",
                                       str(f.mlflow_model_dir), "--env-manager", "local",
                                       "-h", "127.0.0.1", "-p", str(port), "-w", str(w)],
            body_kind="mlflow", predictions=lambda body: body["predictions"],
            health_path="/ping", score_path="/invocations", env=_venv_env(mlflow.venv)),
        "ours-nocode": _ours("ours-nocode", REPO / "scoring" / "nocode.py", f.model_dir,
                             lambda body: body["predict"]),
        "ours-iris": _ours("ours-iris", REPO / "scoring" / "score.py", f.model_dir,
                           lambda body: body),
        # gunicorn's sync worker, as azmlinfsrv runs: no thread hand-offs, but no keep-alive either.
        "ours-nocode-sync": _ours("ours-nocode-sync", REPO / "scoring" / "nocode.py", f.model_dir,
                                  lambda body: body["predict"], (("WORKER_CLASS", "sync"),)),
        "ours-undecorated": _ours("ours-undecorated", f.undecorated_score, f.model_dir,
                                  lambda body: body),
        "ours-decorated": _ours("ours-decorated", f.decorated_score, f.model_dir,
                                lambda body: body),
        "flask-minimal": servers.ServerSpec(
            "flask-minimal", lambda port, w: [str(OURS_PYTHON.parent / "gunicorn"), "-w", str(w),
                                              "-b", f"127.0.0.1:{port}", "--chdir",
                                              str(f.minimal_flask_dir), "app:app"],
            body_kind="azureml", predictions=lambda body: body,
            env=(("AZUREML_MODEL_DIR", str(f.model_dir)),)),
    }


def ours_missing() -> str | None:
    """Why our server cannot run yet (it is being written beside this bench), or None."""
    for needed in ("__main__.py", "nocode.py", "score.py"):
        if not (REPO / "scoring" / needed).exists():
            return f"scoring/{needed} does not exist yet"
    return None


def measure(server: servers.RunningServer, f: fx.Fixtures, scripts: dict, wrk: str,
            duration: int, warmup: int) -> dict:
    """Check predictions, warm up, read RSS, then run every workload once."""
    kind = server.spec.body_kind
    for rows, expected in ((f.rows_one, f.expected_one), (f.rows_big, f.expected_big)):
        body = json.dumps(fx.request_body(kind, rows)).encode()
        servers.check_predictions(server, body, expected)
    if warmup > 0:
        for size in ("one", "big"):
            wrkload.run_wrk(wrk, wrkload.LOADS[0], scripts[(kind, size)], server.score_url, warmup)
    sample = {"server": server.spec.name, "workers": server.workers,
              "startup_s": server.startup_s, "loadavg_1m": os.getloadavg()[0],
              **servers.memory(server), "loads": {}}
    for workload in wrkload.LOADS:
        # The server's own CPU per request barely moves when other sessions load the machine.
        cpu_before = servers.cpu_seconds(server.process.pid)
        figures = wrkload.run_wrk(wrk, workload, scripts[(kind, workload.body)], server.score_url,
                                  duration)
        cpu = servers.cpu_seconds(server.process.pid) - cpu_before
        figures["cpu_us_per_req"] = cpu * 1e6 / figures["requests"] if figures["requests"] else 0.0
        sample["loads"][workload.name] = figures
    sample["worker_rss_after_mib"] = servers.memory(server)["worker_rss_mib"]
    return sample


def run_once(spec: servers.ServerSpec, workers: int, f: fx.Fixtures, scripts: dict, wrk: str,
             args: argparse.Namespace, env: dict[str, str]) -> dict:
    """Start one server, measure it, stop it (always)."""
    log_path = f.workdir / "logs" / f"{spec.name}-w{workers}.log"
    server = servers.start_server(spec, workers, env, f.workdir, log_path)
    try:
        servers.check_loopback_only(server)
        return measure(server, f, scripts, wrk, args.duration, args.warmup)
    finally:
        servers.stop_server(server.process)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="whole seconds per wrk run (3)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up load, 0: none (1)")
    parser.add_argument("--repetitions", type=int, default=3, help="interleaved repetitions (3)")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated (1,2)")
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                        help=f"comma-separated; also known: {', '.join(EXTRA_SERVERS)}")
    parser.add_argument("--workdir", type=Path, help="where models, bodies, logs go (a temp dir)")
    parser.add_argument("--out", type=Path, help="raw results JSON (default <workdir>/results.json)")
    return parser.parse_args(argv)


def prepare(names: list[str], workdir: Path) -> tuple[fx.Fixtures, dict, str]:
    """Peers' venvs, wrk, the model and the bodies."""
    wrk = peers.ensure_wrk()
    if any(name.startswith("azmlinfsrv") for name in names):
        peers.ensure_peer(peers.PEERS["azmlinfsrv"])
    mlflow_python = None
    if "mlflow" in names:
        mlflow_python = peers.ensure_peer(peers.PEERS["mlflow"]).python
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    f = fx.prepare_fixtures(workdir, mlflow_python)
    return f, fx.write_body_files(workdir, f), wrk


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the markdown report, write the raw JSON; 0 unless a server failed."""
    args = parse_args(argv)
    names = [n for n in args.servers.split(",") if n]
    worker_counts = [int(w) for w in args.workers.split(",")]
    skipped = {}
    if (why := ours_missing()) is not None:
        skipped = {n: why for n in names if n.startswith("ours-")}
        names = [n for n in names if n not in skipped]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    f, scripts, wrk = prepare(names, workdir)
    specs = build_specs(f)
    env = dict(os.environ)  # one environment for all (OPENBLAS_* included), PATH aside
    samples, failures, began = [], [], time.monotonic()
    for rep in range(args.repetitions):
        order = names[rep % len(names):] + names[:rep % len(names)]  # rotate: no fixed position
        for workers in worker_counts:
            for name in order:
                print(f"rep {rep + 1}/{args.repetitions} {name} w={workers}", flush=True)
                try:
                    sample = run_once(specs[name], workers, f, scripts, wrk, args, env)
                except (servers.ServerError, wrkload.LoadError) as err:
                    failures.append({"rep": rep, "server": name, "workers": workers,
                                     "error": str(err)})
                    print(f"  FAILED: {err}", flush=True)
                    continue
                samples.append({"rep": rep, **sample})
    table = report.medians(samples)
    print()
    print(report.render(table, names, PAIRS))
    for name, why in skipped.items():
        print(f"- skipped {name}: {why}")
    out = args.out or workdir / "results.json"
    out.write_text(json.dumps({
        "command": " ".join(sys.argv), "args": {k: str(v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "openblas": {k: v for k, v in env.items() if k.startswith("OPENBLAS")}},
        "elapsed_s": time.monotonic() - began, "samples": samples, "failures": failures,
        "skipped": skipped,
        "medians": [{"server": s, "workers": w, **row} for (s, w), row in table.items()],
    }, indent=1), encoding="utf-8")
    print(f"\nraw results: {out}  ({time.monotonic() - began:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
