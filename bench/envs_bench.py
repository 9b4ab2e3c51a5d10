"""Benchmark environments: cold builds of sklearn-env.yml with uv vs pip, and resolving a built env.

Run: .venv/bin/python -m bench.envs_bench [--repeat N] [--spec PATH] [--machine-config]

Each cold build gets a fresh, empty cache folder (UV_CACHE_DIR / PIP_CACHE_DIR) and a fresh
envs root, so both installers download and unpack everything. By default pip's machine-wide
configuration (local find-links and file:// indexes on some hosts) is switched off so that both
installers fetch from PyPI; --machine-config keeps it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments import EnvSpec, find_built, load_spec, materialise  # noqa: E402
from environments.curated import DEFAULT_SPEC  # noqa: E402
from environments.interpreters import find_interpreters  # noqa: E402
from environments.spec import check_machine  # noqa: E402


def installer_env(installer: str, cache: Path, machine_config: bool) -> dict[str, str]:
    """Return the environment that gives an installer an empty cache (and PyPI only)."""
    if installer == "uv":
        return {"UV_CACHE_DIR": str(cache)}
    env = {"PIP_CACHE_DIR": str(cache)}
    if not machine_config:
        env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "",
                    "PIP_EXTRA_INDEX_URL": "", "PIP_CONSTRAINT": ""})
    return env


def cold_build(spec: EnvSpec, installer: str, work: Path, machine_config: bool,
               cache: Path | None = None) -> float:
    """Build `spec` into a fresh envs root with `installer`; return wall seconds."""
    root = Path(tempfile.mkdtemp(prefix=f"envs-{installer}-", dir=work))
    cache = cache or Path(tempfile.mkdtemp(prefix=f"cache-{installer}-", dir=work))
    started = time.perf_counter()
    materialise(spec, root, log_path=root / "build.log", installer=installer,
                installer_env=installer_env(installer, cache, machine_config))
    return time.perf_counter() - started


def timings_ms(call, count: int) -> dict[str, float]:
    """Call `call` `count` times; return median and p99 in milliseconds."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"median": statistics.median(samples), "p99": samples[int(len(samples) * 0.99) - 1]}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(DEFAULT_SPEC))
    parser.add_argument("--repeat", type=int, default=1, help="cold builds per installer")
    parser.add_argument("--machine-config", action="store_true",
                        help="keep pip's machine configuration (local wheels/indexes)")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    with tempfile.TemporaryDirectory(prefix="amlocal-envs-bench-") as tmp:
        work = Path(tmp)
        cold = {name: [cold_build(spec, name, work, args.machine_config)
                       for _ in range(args.repeat)] for name in ("uv", "pip")}
        warm_cache = Path(tempfile.mkdtemp(prefix="cache-uv-warm-", dir=work))
        cold_build(spec, "uv", work, args.machine_config, warm_cache)  # fills the cache
        warm_uv = cold_build(spec, "uv", work, args.machine_config, warm_cache)
        root = work / "resolve"
        materialise(spec, root)
        stored = spec.to_dict()
        rows = {
            "find_built(spec)": timings_ms(lambda: find_built(spec, root), 1000),
            "EnvSpec.from_dict + find_built": timings_ms(
                lambda: find_built(EnvSpec.from_dict(stored), root), 1000),
            "load_spec(file, check=False) + find_built": timings_ms(
                lambda: find_built(load_spec(args.spec, check=False), root), 200),
            "materialise(spec) on a built env": timings_ms(lambda: materialise(spec, root), 1000),
        }
        started = time.perf_counter()
        find_interpreters(refresh=True)
        check_machine(spec)  # interpreter discovery is cached per process after this
        first_check = (time.perf_counter() - started) * 1000
    uv_s, pip_s = statistics.median(cold["uv"]), statistics.median(cold["pip"])
    print(f"spec: {args.spec} ({len(spec.pip_requirements())} requirements, python="
          f"{spec.python}); repeat={args.repeat}; pip machine config: {args.machine_config}\n")
    print("| cold build | uv | pip | pip/uv |\n| --- | --- | --- | --- |")
    print(f"| median wall time | {uv_s:.1f} s | {pip_s:.1f} s | {pip_s / uv_s:.1f}x |")
    print(f"| all runs | {', '.join(f'{s:.1f}' for s in cold['uv'])} |"
          f" {', '.join(f'{s:.1f}' for s in cold['pip'])} | |")
    print(f"\nuv build with a warm cache: {warm_uv:.2f} s\n")
    print("| resolving a built env | median | p99 |\n| --- | --- | --- |")
    for name, figures in rows.items():
        print(f"| {name} | {figures['median']:.3f} ms | {figures['p99']:.3f} ms |")
    print(f"\nfirst check_machine() in a process (probes interpreters once): {first_check:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
