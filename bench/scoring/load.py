"""Loading a server with wrk (keep-alive, a lua script POSTing a body file) and reading its figures."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

MARKER = "WRKJSON "


class LoadError(RuntimeError):
    """wrk failed or printed no figures."""


@dataclass(frozen=True)
class Load:
    """One wrk workload: a name, connections, threads and which body (one row or many)."""

    name: str
    connections: int
    threads: int
    body: str  # "one" or "big"


LOADS = (
    Load("rows1_c16", connections=16, threads=2, body="one"),
    Load("rows1000_c16", connections=16, threads=2, body="big"),
    Load("rows1_c1", connections=1, threads=1, body="one"),
)


def wrk_argv(wrk: str, load: Load, lua: Path, url: str, duration_s: int) -> list[str]:
    """The wrk command line for one workload."""
    # wrk takes whole seconds only
    return [wrk, f"-t{load.threads}", f"-c{load.connections}", f"-d{duration_s}s",
            "--timeout", "10s", "--latency", "-s", str(lua), url]


def parse_wrk(output: str) -> dict[str, float]:
    """Turn the JSON line printed by the lua done() hook into req/s, latency (ms) and error counts."""
    lines = [line for line in output.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise LoadError(f"wrk printed no {MARKER.strip()} line:\n{output[-2000:]}")
    raw = json.loads(lines[-1][len(MARKER):])
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "non_2xx": raw["status_errors"],
        "socket_errors": errors,
    }


def run_wrk(wrk: str, load: Load, lua: Path, url: str, duration_s: int) -> dict[str, float]:
    """Run one workload and return its figures, error counts included (the report flags them)."""
    argv = wrk_argv(wrk, load, lua, url, duration_s)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    if done.returncode != 0:
        raise LoadError(f"{' '.join(argv)} exited {done.returncode}: "
                        f"{(done.stderr or done.stdout)[-2000:]}")
    return parse_wrk(done.stdout)
