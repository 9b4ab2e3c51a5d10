"""The deployment reconciler: keeps each deployment as its row says.

One agent loop. `tick()` is cheap: it compares each row with what runs and hands slow work
(lay out, start, health-check, swap; restart; delete) to one thread per deployment. A new
generation starts beside the one serving, on the same port (SO_REUSEPORT), is checked on its own
health port, and only then takes over; the old one is SIGTERMed and finishes its requests.
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from training.sandbox import Sandbox

from ..deployments import free_port, parse_model_id
from ..environments import ScoringEnvironment, ScoringEnvironmentError, choose_scoring_environment
from ..errors import NotFound
from ..settings import Settings
from ..store import Store, Workspace
from ..store.deployments import Deployment
from ..store.models import ModelVersion
from ..targets import DeploymentTarget, StartRequest
from ..targets.aci import AciTarget, AzureMLBackend
from ..targets.docker import DockerTarget
from ..targets.health import Cancelled, StartFailed, is_healthy, wait_healthy
from ..targets.layout import LayoutError, lay_out
from ..targets.local import LocalTarget

log = logging.getLogger("amlocal.reconciler")
RESTART_BACKOFF_S = (0.5, 1, 2, 5, 10, 30)
STABLE_AFTER_S = 60.0  # healthy this long after a restart: the backoff starts over
PROBE_INTERVAL_S = 10.0  # alive servers are also asked `GET /` this often...
PROBE_FAILURES = 3       # ...and shown Unhealthy (not restarted) after this many misses in a row
NOT_ANSWERING = "The scoring server is running but does not answer GET / on its health port."
TCP_MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def enable_tcp_migrate_req(path: Path = TCP_MIGRATE_REQ) -> bool:
    """Let connections queued on a closing SO_REUSEPORT listener move to the new one (root)."""
    try:
        if path.read_text().strip() != "1":
            path.write_text("1\n")
        return True
    except OSError as err:
        log.warning("cannot enable %s (%s): connections queued on an old generation's listener "
                    "may be reset during a swap", path, err)
        return False


def default_targets(ws: Workspace, settings: Settings,
                    sandbox: Sandbox | None = None) -> dict[str, DeploymentTarget]:
    """The targets the agent drives, by name (ACI needs azureml-core only when used)."""
    return {"local": LocalTarget(ws.envs_dir, sandbox=sandbox), "docker": DockerTarget(settings.docker_base_image),
            "aci": AciTarget(lambda: AzureMLBackend.from_settings(settings))}


class DeploymentReconciler:
    """One agent loop: tick() brings deployments towards their desired state."""

    probe_timeout_s = 5.0

    def __init__(self, store: Store, ws: Workspace, settings: Settings,
                 targets: dict[str, DeploymentTarget] | None = None,
                 sandbox: Sandbox | None = None):
        self.store, self.ws = store, ws
        self.targets = targets if targets is not None else default_targets(ws, settings, sandbox)
        self.ops: dict[str, threading.Thread] = {}
        self.restarts: dict[str, int] = {}
        self.healthy_since: dict[str, float] = {}
        self.next_check: dict[str, float] = {}
        self.adopted = False
        self.stopping = threading.Event()
        self.misses: dict[str, int] = {}
        self.prober = threading.Thread(target=self._probe_loop, name="deploy-probe", daemon=True)
        enable_tcp_migrate_req()

    # -- the loop --------------------------------------------------------------------------

    def tick(self) -> None:
        """Start the work each deployment needs (at most one operation per deployment)."""
        for name in [n for n, t in self.ops.items() if not t.is_alive()]:
            del self.ops[name]
        deployments = self.store.list_deployments()
        if not self.adopted:
            self.adopted = True
            self.prober.start()
            for dep in deployments:
                self._spawn(dep.name, self._adopt, dep)
            return
        now = time.monotonic()
        for dep in deployments:
            if dep.name in self.ops:
                continue
            if dep.deleting:
                self._spawn(dep.name, self._delete, dep)
            elif dep.generation not in (dep.served_generation, dep.failed_generation):
                self._spawn(dep.name, self._roll_out, dep)
            elif dep.served_generation and now >= self.next_check.get(dep.name, 0):
                self._check(dep, now)

    def stop(self) -> None:
        """Leave running deployments running: a restarted agent adopts them."""
        self.stopping.set()

    def _spawn(self, name: str, func: Callable, dep: Deployment) -> None:
        def guarded() -> None:
            try:
                func(dep)
            except Exception:  # a bug must not kill the loop; the next tick retries
                log.exception("deployment %s: %s failed", name, func.__name__)
        thread = threading.Thread(target=guarded, name=f"deploy-{name}", daemon=True)
        self.ops[name] = thread
        thread.start()

    def _target(self, dep: Deployment) -> DeploymentTarget:
        return self.targets[dep.target]

    # -- watching what serves --------------------------------------------------------------

    def _check(self, dep: Deployment, now: float) -> None:
        target = self._target(dep)
        self.next_check[dep.name] = now + target.check_interval_s
        serving = dep.runtime.get("serving") or {}
        if target.is_running(serving):
            if now - self.healthy_since.get(dep.name, now) > STABLE_AFTER_S:
                self.restarts.pop(dep.name, None)
            return
        log.warning("deployment %s: generation %s stopped; restarting", dep.name,
                    serving.get("generation"))
        self.store.set_deployment_state(dep.name, "Unhealthy", "The scoring server stopped; "
                                        "amlocal is restarting it.")
        self._spawn(dep.name, self._restart, dep)

    def _probe_loop(self) -> None:
        """Ask each running local/docker server `GET /`; a hung one shows Unhealthy meanwhile."""
        while not self.stopping.wait(PROBE_INTERVAL_S):
            try:
                for dep in self.store.list_deployments():
                    self._probe(dep)
            except Exception:  # the probe must never stop; the next round retries
                log.exception("health probe failed")

    def _probe(self, dep: Deployment) -> None:
        serving = dep.runtime.get("serving") or {}
        if dep.state not in ("Healthy", "Unhealthy") or not serving.get("health_port"):
            return
        if self._answers(serving, timeout=self.probe_timeout_s):
            self.misses.pop(dep.name, None)
            if self.store.switch_state(dep.name, "Unhealthy", "Healthy", None,
                                       only_if_error=NOT_ANSWERING):
                log.info("deployment %s answers again", dep.name)
            return
        self.misses[dep.name] = self.misses.get(dep.name, 0) + 1
        if self.misses[dep.name] >= PROBE_FAILURES and self.store.switch_state(
                dep.name, "Healthy", "Unhealthy", NOT_ANSWERING):
            log.warning("deployment %s: %s", dep.name, NOT_ANSWERING)

    def _adopt(self, dep: Deployment) -> None:
        """After an agent restart: keep what still answers, clean up half-started generations."""
        target = self._target(dep)
        pending = dep.runtime.get("pending")
        if pending:
            target.kill_group(pending)
            self.store.set_deployment_runtime(dep.name, {"serving": dep.runtime.get("serving")})
        serving = dep.runtime.get("serving")
        if dep.deleting or not serving:
            return
        # a remote target (ACI): Azure keeps it running
        if target.remote or (target.is_running(serving) and self._answers(serving)):
            log.info("deployment %s: adopted generation %s", dep.name, dep.served_generation)
            self.healthy_since[dep.name] = time.monotonic()
            if dep.state == "Unhealthy":  # the last agent stopped before it could say Healthy
                self.store.mark_served(dep.name, dep.served_generation, {"serving": serving},
                                       *self._uris(dep, serving))
            return
        self.store.set_deployment_state(dep.name, "Unhealthy", "The scoring server was not "
                                        "running when the agent started; restarting it.")
        self._restart(dep)

    def _answers(self, runtime: dict, timeout: float = 2.0) -> bool:
        port = runtime.get("health_port")
        return bool(port) and is_healthy(f"http://127.0.0.1:{port}/", timeout=timeout)

    # -- operations (each in the deployment's thread) --------------------------------------

    def _roll_out(self, dep: Deployment) -> None:
        """Start dep.generation beside what serves; swap when healthy, else record Failed."""
        generation, spec = dep.generation, dep.spec
        try:
            runtime = self._start(dep, generation, spec)
        except (StartFailed, LayoutError) as err:
            reason = err.reason if isinstance(err, StartFailed) else str(err)
            log.warning("deployment %s: generation %s failed: %s", dep.name, generation, reason)
            self.store.mark_failed(dep.name, generation, reason)
            return
        except Cancelled:
            return
        old = dep.runtime.get("serving")
        self.store.mark_served(dep.name, generation, {"serving": runtime},
                               *self._uris(dep, runtime))
        self.healthy_since[dep.name] = time.monotonic()
        log.info("deployment %s: generation %s serves on port %s", dep.name, generation, dep.port)
        if old:
            self._target(dep).stop(old)
            self._clean_generations(dep.name, keep={generation})

    def _restart(self, dep: Deployment) -> None:
        """Bring the served generation back after it died, with backoff."""
        count = self.restarts.get(dep.name, 0)
        self.restarts[dep.name] = count + 1
        if self.stopping.wait(RESTART_BACKOFF_S[min(count, len(RESTART_BACKOFF_S) - 1)]):
            return
        generation = dep.served_generation
        target = self._target(dep)
        target.kill_group(dep.runtime.get("serving") or {})
        spec = self.store.get_generation_spec(dep.name, generation)
        try:
            runtime = self._start(dep, generation, spec)
        except (StartFailed, LayoutError) as err:
            reason = err.reason if isinstance(err, StartFailed) else str(err)
            self.store.set_deployment_state(dep.name, "Unhealthy", f"restart failed: {reason}")
            self.store.set_deployment_runtime(dep.name, {"serving": dep.runtime.get("serving")})
            return
        except Cancelled:
            return
        self.store.mark_served(dep.name, generation, {"serving": runtime},
                               *self._uris(dep, runtime))
        self.healthy_since[dep.name] = time.monotonic()
        log.info("deployment %s: generation %s restarted", dep.name, generation)

    def _delete(self, dep: Deployment) -> None:
        """Stop everything the deployment runs, free its port, drop its files and its row."""
        target = self._target(dep)
        for key in ("pending", "serving"):
            if dep.runtime.get(key):
                target.stop(dep.runtime[key], grace_s=10)
        target.delete(dep)
        shutil.rmtree(self.ws.deployment_dir(dep.name), ignore_errors=True)
        self.store.remove_deployment(dep.name)
        for table in (self.restarts, self.healthy_since, self.next_check):
            table.pop(dep.name, None)
        log.info("deployment %s deleted", dep.name)

    # -- helpers ---------------------------------------------------------------------------

    def _start(self, dep: Deployment, generation: int, spec: dict) -> dict:
        """Lay out, start and health-check one generation; returns its runtime facts."""
        try:
            models = [self.store.get_model_version(*parse_model_id(m)) for m in spec["models"]]
        except NotFound as err:  # deleted from the registry since the request was accepted
            raise LayoutError(err.message) from err
        layout = lay_out(self.ws, dep.name, generation, spec, models, self._extract_run)
        target = self._target(dep)
        request = StartRequest(
            name=dep.name, generation=generation, spec=spec, models=models, layout=layout,
            port=dep.port, health_port=free_port(), keys=self._keys(dep.name),
            environment=None if target.remote else self._environment(spec, models),
            model_root=self.ws.root / "models", overwrite=dep.served_generation is not None)
        if target.remote:  # deployed, waited for and health-checked by the platform
            return target.start(request)
        runtime = target.start(request)
        self.store.set_deployment_runtime(dep.name, {"serving": dep.runtime.get("serving"),
                                                     "pending": runtime})
        try:
            took = wait_healthy(f"http://127.0.0.1:{request.health_port}/",
                                lambda: target.is_running(runtime),
                                cancelled=lambda: self._superseded(dep.name),
                                log_text=lambda: target.logs(runtime, 400))
        except (StartFailed, Cancelled):
            target.kill_group(runtime)
            self.store.set_deployment_runtime(dep.name, {"serving": dep.runtime.get("serving")})
            raise
        log.info("deployment %s: generation %s healthy %.2f s after start", dep.name, generation,
                 took)
        return runtime

    def _environment(self, spec: dict, models: list[ModelVersion]) -> ScoringEnvironment:
        """The Python a generation scores in (the target builds it)."""
        try:
            return choose_scoring_environment(self.store, spec, models)
        except ScoringEnvironmentError as err:
            raise StartFailed(str(err)) from err

    def _keys(self, name: str) -> tuple[str, str] | None:
        return self.store.get_deployment(name).keys

    def _superseded(self, name: str) -> bool:
        if self.stopping.is_set():
            return True
        try:
            return self.store.get_deployment(name).deleting
        except Exception:
            return True

    def _uris(self, dep: Deployment, runtime: dict) -> tuple[str, str]:
        if runtime.get("scoring_uri"):  # ACI: Azure's address
            return runtime["scoring_uri"], runtime.get("swagger_uri") or ""
        base = f"http://127.0.0.1:{dep.port}"
        return f"{base}/score", f"{base}/swagger.json"

    def _extract_run(self, run_id: str, dest: Path) -> None:
        from training.snapshot import extract

        run = self.store.get_run(run_id)
        extract(self.ws.snapshot(run.snapshot_sha256), dest)

    def _clean_generations(self, name: str, keep: set[int]) -> None:
        """Old generations' app folders go (their logs stay for /logs)."""
        root = self.ws.deployment_dir(name)
        for child in root.iterdir() if root.exists() else ():
            if child.name.isdigit() and int(child.name) not in keep:
                for sub in ("azureml-app", "source", "context"):
                    shutil.rmtree(child / sub, ignore_errors=True)
