"""Deployment benchmark (issue 6): POST → Healthy (local, docker), cold image build, and latency
and errors while a deployment is updated under a steady request rate.

    .venv/bin/python -m bench.deployments.run [--repeats 7] [--rate 200] [--docker]

Starts a real `amlocal serve` on a temporary workspace (127.0.0.1), registers iris models with the
registry's store verbs, measures, deletes what it deployed and stops the service by PID.
`--docker` needs an engine and a local base image (docker/prepare-engine.sh;
AMLOCAL_DOCKER_BASE_IMAGE names the base, default amlocal/debian:bookworm).
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
TOKEN = "bench-token"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """`amlocal serve` in a subprocess, spoken to over HTTP."""

    def __init__(self, workspace: Path, env: dict[str, str]):
        self.workspace, self.port = workspace, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "AMLOCAL_API_TOKEN": TOKEN, **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port",
                                      str(self.port), "--workspace", str(workspace)],
                                     env=self.env, cwd=REPO, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.session.get(self.url + "/health", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.1)

    def call(self, method: str, path: str, **kwargs) -> dict:
        resp = self.session.request(method, self.url + path, timeout=300, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def wait(self, name: str, generation: int, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dep = self.call("GET", f"/deployments/{name}")
            if dep["state"] == "Failed":
                raise RuntimeError(f"{name} failed: {dep['error']}")
            if dep["served_generation"] == generation and dep["state"] == "Healthy":
                return dep
            time.sleep(0.05)
        raise RuntimeError(f"{name} not Healthy after {timeout}s")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def register(workspace: Path, name: str, kind: str) -> str:
    """A fitted iris model as a registered ScikitLearn version."""
    import joblib
    import sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    from service.store import Store

    X, y = load_iris(return_X_y=True)
    model = SVC(kernel="linear") if kind == "svc" else LogisticRegression(max_iter=500)
    buf = io.BytesIO()
    joblib.dump(model.fit(X, y), buf)
    buf.seek(0)
    store = Store(workspace / "amlocal.db")
    staged = store.new_stage()
    store.stage_file(staged, "model.joblib", buf)
    version = store.register_model_version(name, staged, framework="ScikitLearn",
                                           framework_version=sklearn.__version__,
                                           resource_configuration={"cpu": 1, "memory_in_gb": 0.5})
    store.close()
    return version.id


def time_to_healthy(svc: Service, name: str, model: str, target: str) -> float:
    started = time.perf_counter()
    svc.call("POST", "/deployments", json={"name": name, "models": [model],
                                           "deployment_config": {"target": target}})
    svc.wait(name, 1)
    return time.perf_counter() - started


def bench_local(svc: Service, model: str, repeats: int) -> list[float]:
    times = []
    for i in range(repeats):
        times.append(time_to_healthy(svc, f"bench-local-{i}", model, "local"))
        svc.call("DELETE", f"/deployments/bench-local-{i}")
    return times


def cold_build_s(workspace: Path, model: str, base_image: str) -> float:
    """`docker build --no-cache` of the context a no-code deployment of `model` gets."""
    from service.targets import docker_image

    name, version = model.split(":")
    with tempfile.TemporaryDirectory() as tmp:
        ctx = docker_image.make_context(Path(tmp) / "ctx", REPO, [
            (name, version, workspace / "models" / name / version)], None, base_image)
        started = time.perf_counter()
        subprocess.run(["docker", "build", "--no-cache", "--network", "host", "-q", "-t",
                        ctx.tag + "-cold"] + [a for k, v in ctx.build_args.items()
                                              for a in ("--build-arg", f"{k}={v}")]
                       + [str(ctx.path)], check=True, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        docker_image.remove_image(ctx.tag + "-cold")
    return elapsed


def bench_docker(svc: Service, model: str, repeats: int) -> list[float]:
    time_to_healthy(svc, "bench-docker-warmup", model, "docker")  # builds the image once
    svc.call("DELETE", "/deployments/bench-docker-warmup")
    times = []
    for i in range(repeats):
        times.append(time_to_healthy(svc, f"bench-docker-{i}", model, "docker"))
        svc.call("DELETE", f"/deployments/bench-docker-{i}")
    return times


class Load:
    """Requests at a fixed rate from a pool of threads; records (start, latency, ok)."""

    def __init__(self, uri: str, rate: float, threads: int = 16, keep_alive: bool = False):
        self.uri, self.rate, self.keep_alive = uri, rate, keep_alive
        self.records: list[tuple[float, float, bool, str]] = []
        self.lock, self.next_index = threading.Lock(), 0
        self.stopping = threading.Event()
        self.t0 = time.perf_counter()
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]

    def _work(self) -> None:
        session = requests.Session()
        headers = {} if self.keep_alive else {"Connection": "close"}
        while not self.stopping.is_set():
            with self.lock:
                index, self.next_index = self.next_index, self.next_index + 1
            due = self.t0 + index / self.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            started = time.perf_counter()
            try:
                resp = session.post(self.uri, json={"data": ROWS}, headers=headers, timeout=30)
                ok, detail = resp.status_code == 200, str(resp.status_code)
            except requests.RequestException as err:
                ok, detail = False, type(err).__name__
            self.records.append((started, time.perf_counter() - started, ok, detail))

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def bench_update(svc: Service, v1: str, v2: str, rate: float, keep_alive: bool) -> dict:
    name = "bench-update-ka" if keep_alive else "bench-update"
    svc.call("POST", "/deployments", json={"name": name, "models": [v1]})
    uri = svc.wait(name, 1)["scoring_uri"]
    with Load(uri, rate, keep_alive=keep_alive) as load:
        time.sleep(3)
        swap_start = time.perf_counter()
        svc.call("PATCH", f"/deployments/{name}", json={"models": [v2]})
        svc.wait(name, 2)
        old_gone = wait_old_generation_gone(svc, name)
        swap_end = time.perf_counter()
        time.sleep(3)
    svc.call("DELETE", f"/deployments/{name}")
    during = [r for r in load.records if swap_start <= r[0] <= swap_end]
    errors = [r[3] for r in load.records if not r[2]]
    return {"requests": len(load.records), "errors": len(errors), "error_kinds": sorted(set(errors)),
            "achieved_rate": len(load.records) / (load.records[-1][0] - load.records[0][0]),
            "swap_s": swap_end - swap_start, "old_gone": old_gone,
            "p50_ms_swap": pct([r[1] for r in during], 0.5),
            "p99_ms_swap": pct([r[1] for r in during], 0.99),
            "p99_ms_all": pct([r[1] for r in load.records], 0.99)}


def wait_old_generation_gone(svc: Service, name: str, timeout: float = 60) -> bool:
    from service.store import Store

    store = Store(svc.workspace / "amlocal.db")
    runtime = store.get_deployment(name).runtime["serving"]
    store.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # the old master exits once its in-flight requests are done
        alive = [p for p in os.listdir("/proc") if p.isdigit() and _is_old(int(p), name)]
        if not alive:
            return True
        time.sleep(0.05)
    return runtime is None


def _is_old(pid: int, name: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"AMLOCAL_DEPLOYMENT={name}/1".encode() in environ.split(b"\0")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--docker", action="store_true")
    args = parser.parse_args()
    base = os.environ.get("AMLOCAL_DOCKER_BASE_IMAGE", "amlocal/debian:bookworm")
    with tempfile.TemporaryDirectory(prefix="amlocal-bench-deploy-") as tmp:
        workspace = Path(tmp) / "ws"
        svc = Service(workspace, {"AMLOCAL_DOCKER_BASE_IMAGE": base})
        try:
            v1 = register(workspace, "sklearn-iris", "svc")
            v2 = register(workspace, "sklearn-iris", "logistic")
            local = bench_local(svc, v1, args.repeats)
            print(f"local POST → Healthy: median {statistics.median(local):.2f} s, "
                  f"min {min(local):.2f}, max {max(local):.2f} (n={len(local)})")
            for keep_alive in (False, True):
                update = bench_update(svc, v1, v2, args.rate, keep_alive)
                print(f"update under {args.rate:.0f} req/s ({'keep-alive' if keep_alive else 'new connection each'}):"
                      f" {update}")
            if args.docker:
                print(f"docker cold build (--no-cache): {cold_build_s(workspace, v1, base):.1f} s")
                docker = bench_docker(svc, v1, max(3, args.repeats // 2))
                print(f"docker POST → Healthy (image built): median "
                      f"{statistics.median(docker):.2f} s, min {min(docker):.2f}, "
                      f"max {max(docker):.2f} (n={len(docker)})")
        finally:
            svc.stop()


if __name__ == "__main__":
    main()
