"""Where a scoring worker's time goes under load: py-spy samples one worker while wrk loads it.

Run from the repository root (py-spy installed into .venv):
  .venv/bin/python -m bench.scoring.profile --server ours-nocode --body one --duration 5
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from . import fixtures as fx
from . import load as wrkload
from . import peers, servers
from .run import build_specs

# Buckets, matched from the innermost frame outwards; the first frame that matches one decides.
# Patterns are substrings of py-spy's "function (file:line)" frame names.
BUCKETS = (
    ("model predict (sklearn)", ("sklearn/",)),
    ("input conversion", ("parameter_types/", "convert_numpy", "deserialize_input", " convert (")),
    ("json encode", ("json/encoder", "dumps (", "jsonify")),
    ("json parse", ("_loads", "json/decoder", "json/__init__.py", "get_json")),
    ("request id (uuid4)", ("uuid.py",)),
    ("logging", ("logging/",)),
    ("metrics (prometheus)", ("prometheus_client/",)),
    ("run() timeout (signals)", ("deadline.py", "signal.py")),
    ("entry script and schema wrappers", ("score_undecorated.py", "score_decorated.py",
                                          "scoring/score.py", "scoring/nocode.py",
                                          "schema_decorators.py", "invoke_run (")),
    ("flask / werkzeug", ("flask/", "werkzeug/")),
    ("gunicorn http parsing", ("gunicorn/http/",)),
    ("gunicorn worker loop (threads, epoll, socket writes)",
     ("gunicorn/", "scoring/worker.py", "concurrent/futures", "threading.py", "selectors.py",
      "queue.py")),
)


def frame_bucket(stack: list[str]) -> str:
    """The bucket of one sampled stack (outermost frame first, as py-spy writes it)."""
    for frame in reversed(stack):
        for bucket, patterns in BUCKETS:
            if any(pattern in frame for pattern in patterns):
                return bucket
    return "other"


def summarize(collapsed: str) -> tuple[Counter, Counter, int]:
    """Samples per bucket and per innermost frame, from py-spy's raw (collapsed stack) output."""
    buckets: Counter = Counter()
    leaves: Counter = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        buckets[frame_bucket(stack)] += count
        leaves[stack[-1]] += count
        total += count
    return buckets, leaves, total


def render(buckets: Counter, leaves: Counter, total: int, rps: float, top: int = 15) -> str:
    """Buckets as shares of the worker's sampled (non-idle) thread stacks, then the top frames."""
    # Wall-clock samples of every non-idle thread: a thread blocked in a syscall or preempted by
    # other load counts as busy, so shares are indicative, not CPU time.
    lines = [f"{total} samples; {rps:,.0f} req/s per worker under load",
             "| where | share of non-idle samples |", "|---|---|"]
    for bucket, count in buckets.most_common():
        lines.append(f"| {bucket} | {count / total if total else 0.0:.0%} |")
    lines += ["", "innermost frames:"]
    lines += [f"  {count / total:6.1%}  {frame}" for frame, count in leaves.most_common(top)]
    return "\n".join(lines)


def profile(server_name: str, body: str, workers: int, duration: int, rate: int) -> str:
    """Start the server, load it with wrk (16 connections), sample its first worker, summarize."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    mlflow_python = peers.PEERS["mlflow"].python if server_name == "mlflow" else None
    f = fx.prepare_fixtures(workdir, mlflow_python)
    scripts = fx.write_body_files(workdir, f)
    spec = build_specs(f)[server_name]
    (workdir / "logs").mkdir()
    server = servers.start_server(spec, workers, dict(os.environ), workdir,
                                  workdir / "logs" / "server.log")
    try:
        servers.check_loopback_only(server)
        worker = servers.worker_pids(server.process.pid)[0]
        lua = scripts[(spec.body_kind, body)]
        wrkload.run_wrk(peers.ensure_wrk(), wrkload.LOADS[0], lua, server.score_url, 1)  # warm-up
        raw = workdir / "stacks.txt"
        spy = subprocess.Popen([py_spy, "record", "--pid", str(worker), "--duration", str(duration),
                                "--rate", str(rate), "--format", "raw", "--nonblocking",
                                "--output", str(raw)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        figures = wrkload.run_wrk(peers.ensure_wrk(), wrkload.LOADS[0], lua, server.score_url,
                                  duration)
        _, err = spy.communicate(timeout=duration + 60)
        if spy.returncode != 0 or not raw.exists():
            raise RuntimeError(f"py-spy failed: {err[-2000:]}")
    finally:
        servers.stop_server(server.process)
    buckets, leaves, total = summarize(raw.read_text(encoding="utf-8"))
    return render(buckets, leaves, total, figures["rps"] / workers) + f"\n(raw stacks: {raw})"


def main(argv: list[str] | None = None) -> int:
    """Command line: profile one server of the bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="ours-nocode")
    parser.add_argument("--body", choices=("one", "big"), default="one")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    args = parser.parse_args(argv)
    print(profile(args.server, args.body, args.workers, args.duration, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
