"""Container tests: the scoring image a docker or ACI deployment would run, tested as a contract.

A container test is a tracked run of kind `container-test` (experiment `container-tests` unless
named): `submit` validates it as a deployment is validated and queues it; the agent's container
test loop executes it (`execute`): build the image (cached by content), start it on
127.0.0.1, replay examples against the model's own predictions, send bad inputs, measure, remove
the container. Its log is the run's log, its figures the run's metrics, its report the run's
`outputs/report.json`.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, TextIO

from scoring import BATCHING_VARIABLES
from training import snapshot as snapshots
from training.executor import user_environ

from .deployments import build_spec, free_port, resolve_models
from .environments import (build_scoring_environment, choose_scoring_environment,
                           resolve_environment)
from .runs import LOG_FILE, check_experiment_name
from .settings import Settings
from .store import Run, Store, Workspace
from .targets import docker_image as images
from .targets import probes
from .targets.docker import build_layout_image
from .targets.layout import AppLayout, lay_out_app

KIND = "container-test"
EXPERIMENT = "container-tests"
CONFIG_FILE = Path(".amlocal") / "container-test.json"  # hidden from the run's files
REPORT_FILE = Path("outputs") / "report.json"
TOLERANCE = 1e-6  # floats: |got - expected| <= 1e-9 + 1e-6 * |expected|; labels exactly


def submit(store: Store, ws: Workspace, body: dict) -> Run:
    """Validate as a deployment would be (models, entry script, environment), then queue the test.

    `body` is the API's validated ContainerTestSchema."""
    experiment = check_experiment_name(body["experiment"])
    config = body["inference_config"]
    spec = build_spec(store, body["models"], config, body["deployment_config"])
    if config and config.get("environment") is not None:
        resolve_environment(store, config["environment"], field="inference_config.environment")
    script = config["entry_script"] if config else "nocode.py"
    run = store.create_run(experiment, script, [], "", kind=KIND, queued=False,
                           tags=body["tags"], properties={"models": ",".join(spec["models"])})
    path = ws.run_dir(run.id) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"spec": spec, "data": body["data"],
                                "requests": body["requests"], "tolerance": TOLERANCE}),
                    encoding="utf-8")
    # queued only now: the agent never claims a test whose config is not written
    store.set_run_state(run.id, "Queued")
    return store.get_run(run.id)


def container_name(ws: Workspace, run_id: str) -> str:
    """The test's container: one per run, and per workspace (agents of other workspaces share
    the engine and must never touch it)."""
    key = hashlib.sha256(f"{Path(ws.root).resolve()}\0{run_id}".encode()).hexdigest()[:12]
    return f"amlocal-ctest-{key}"


def load_config(ws: Workspace, run_id: str) -> dict:
    """What `submit` stored for the agent."""
    return json.loads((ws.run_dir(run_id) / CONFIG_FILE).read_text(encoding="utf-8"))


# -- executing one test (the agent's container-test loop) ------------------------------

STARTUP_TIMEOUT_S = 120.0
REFERENCE_TIMEOUT_S = 300.0
LOG_TAIL_LINES = 40
CONNECTIONS = (1, 8)
REFERENCE_CHILD = Path(probes.__file__).with_name("reference_child.py")


class Cancelled(Exception):
    """The run was canceled between two steps."""


class Job:
    """One container test's state while it executes: its run, config, log and report."""

    def __init__(self, store: Store, ws: Workspace, settings: Settings, run: Run, out: TextIO):
        self.store, self.ws, self.settings, self.run, self.out = store, ws, settings, run, out
        self.config = load_config(ws, run.id)
        self.spec = self.config["spec"]
        self.report: dict[str, Any] = {
            "passed": False, "mismatches": [], "bad_inputs": [], "startup_s": None,
            "p50_ms": {}, "p99_ms": {}, "memory_mib": None, "image": None, "image_mib": None,
            "run_id": run.id, "models": self.spec["models"],
            "entry_script": (self.spec.get("inference_config") or {}).get("entry_script"),
            "compared": {}, "tolerance": self.config["tolerance"], "reference": None,
            "requests": self.config["requests"], "failures": [], "log_tail": None}

    def say(self, line: str) -> None:
        """A line of the run's log."""
        self.out.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        self.out.flush()

    def check_cancel(self) -> None:
        if self.store.is_cancel_requested(self.run.id):
            raise Cancelled("Canceled while the container test ran.")

    # -- the image ------------------------------------------------------------------------------

    def lay_out(self, models: list) -> AppLayout:
        """The app folder a deployment generation would have, under the run's hidden folder."""
        root = self.ws.run_dir(self.run.id) / ".amlocal" / "app"
        shutil.rmtree(root, ignore_errors=True)
        return lay_out_app(root, self.spec, models, self._extract_run)

    def _extract_run(self, run_id: str, dest: Path) -> None:
        snapshots.extract(self.ws.snapshot(self.store.get_run(run_id).snapshot_sha256), dest)

    def build(self, models: list) -> str:
        layout = self.lay_out(models)
        environment = choose_scoring_environment(self.store, self.spec, models)
        self.say(f"building the scoring image ({environment.reason}) on "
                 f"{self.settings.docker_base_image}")
        started = time.monotonic()
        try:
            tag = build_layout_image(layout, environment, self.settings.docker_base_image)
        finally:
            shutil.rmtree(layout.root / "context", ignore_errors=True)
        size = images.image_size(tag)
        self.report.update(image=tag, image_mib=round(size / 1024**2, 1))
        self.say(f"image {tag}: {size / 1024**2:.1f} MiB ({time.monotonic() - started:.1f} s; "
                 f"reused when its content is unchanged)")
        return tag

    # -- the container --------------------------------------------------------------------------

    def start(self, tag: str, name: str) -> int | None:
        """Run the image; the port once GET / is Healthy, None when it never got there."""
        port = free_port()
        env = {"WORKER_COUNT": str(self.spec.get("worker_count") or 1), "SERVICE_NAME": name,
               **{var: str(self.spec[key]) for key, var in BATCHING_VARIABLES.items()
                  if self.spec.get(key)}}  # as the docker target runs a generation
        started = time.monotonic()
        images.run_container(name, tag, port, env, cpus=self.spec.get("cpu_cores"),
                             memory_gb=self.spec.get("memory_gb"))
        deadline, checks = started + STARTUP_TIMEOUT_S, 0
        while time.monotonic() < deadline:
            if probes.is_healthy(port):
                self.report["startup_s"] = round(time.monotonic() - started, 3)
                self.say(f"container {name} Healthy on 127.0.0.1:{port} after "
                         f"{self.report['startup_s']:.2f} s")
                return port
            checks += 1
            if checks % 10 == 0 and images.container_state(name) != "running":
                break
            time.sleep(0.05)
        state = images.container_state(name)
        why = ("exited before it was Healthy" if state != "running"
               else f"was not Healthy within {STARTUP_TIMEOUT_S:.0f} s")
        self.fail(f"the container {why}")
        self.report["log_tail"] = images.container_logs(name, LOG_TAIL_LINES)
        self.say(f"the container {why}; its log ends:\n{self.report['log_tail']}")
        return None

    def fail(self, failure: str) -> None:
        self.report["failures"].append(failure)

    # -- comparing with the model ----------------------------------------------------------------

    def sources(self, port: int, models: list) -> tuple[dict | None, list[tuple[str, list]]]:
        """The swagger example and (source name, rows) to replay."""
        example = probes.swagger_example(port)
        found = []
        if example and isinstance(example.get(probes.rows_key(example)), list):
            found.append(("swagger example", example[probes.rows_key(example)]))
        for model in models:
            if model.sample_input:
                found.append((f"sample input of {model.id}", list(model.sample_input)))
        if self.config.get("data"):
            found.append(("data", list(self.config["data"])))
        return example, [(name, rows) for name, rows in found if rows]

    def reference(self, models: list, rows: list, methods: list[str]) -> dict | None:
        """The model's own answers for `rows`, computed in its training environment."""
        if len(models) != 1:
            self.report["reference"] = f"none: {len(models)} models (a reference needs one)"
            return None
        python, how = self.reference_python(models[0])
        self.report["reference"] = how
        proc = subprocess.run([python, str(REFERENCE_CHILD), str(models[0].dir)],
                              input=json.dumps({"rows": rows, "methods": methods}),
                              capture_output=True, text=True, timeout=REFERENCE_TIMEOUT_S,
                              env=user_environ(), cwd=self.ws.run_dir(self.run.id), check=False)
        try:
            answer = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            answer = {"error": f"exited {proc.returncode}: {proc.stderr.strip()[-500:]}"}
        if "error" in answer:
            self.fail(f"the model's own predictions could not be computed: {answer['error']}")
            return None
        return answer

    def reference_python(self, model) -> tuple[str, str]:
        """The model's training interpreter when it is still there, else its scoring env's."""
        recorded = (model.environment or {}).get("interpreter")
        if recorded and Path(recorded).is_file():
            return recorded, f"in-process in {model.id}'s training interpreter {recorded}"
        choice = choose_scoring_environment(self.store, {"inference_config": None}, [model])
        log = self.ws.run_dir(self.run.id) / "logs" / "reference-env.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        python, _ = build_scoring_environment(choice, self.ws.envs_dir, log)
        return python or sys.executable, f"in-process with {choice.reason}"

    def compare(self, port: int, models: list) -> dict | None:
        example, sources = self.sources(port, models)
        rows = [row for _, source in sources for row in source]
        nocode = self.spec.get("inference_config") is None
        methods = ["predict"] + (["predict_proba"] if nocode else [])
        expected = self.reference(models, rows, methods) if rows else None
        offset = 0
        for name, source in sources:
            for method in methods:
                if expected is not None and method not in expected:
                    continue
                extra = {"method": method} if nocode else {}
                want = None if expected is None else expected[method][offset:offset + len(source)]
                self.check_rows(port, name, source, example, extra, method, want)
            offset += len(source)
        self.report["compared"] = {name: len(source) for name, source in sources}
        self.say(f"replayed {len(rows)} rows ({', '.join(f'{n}: {len(s)}' for n, s in sources)}"
                 f"); {len(self.report['mismatches'])} mismatches")
        return example

    def check_rows(self, port: int, source: str, rows: list, example: dict | None, extra: dict,
                   method: str, want: list | None) -> None:
        answer = probes.request(port, "POST", "/score", probes.body_for(rows, example, **extra))
        got = probes.predictions(answer, len(rows), method) if answer.status == 200 else None
        if got is None:
            self.report["mismatches"].append({
                "source": source, "row": None, "method": method, "status": answer.status,
                "got": answer.text[:500], "expected": f"200 with {len(rows)} answers"})
            return
        for index, (row, expected, actual) in enumerate(zip(rows, want or got, got)):
            if not probes.same(expected, actual, self.config["tolerance"]):
                self.report["mismatches"].append({
                    "source": source, "row": index, "method": method, "input": row,
                    "expected": expected, "got": actual})

    # -- the rest ---------------------------------------------------------------------------------

    def width(self, models: list, example: dict | None) -> int:
        for model in models:
            features = (model.estimator or {}).get("n_features_in")
            if isinstance(features, int) and features > 0:
                return features
        rows = (example or {}).get(probes.rows_key(example)) or [[0, 0, 0, 0]]
        return len(rows[0]) if isinstance(rows[0], (list, dict)) else 4

    def measure(self, port: int, name: str, body: bytes) -> None:
        for connections in CONNECTIONS:
            figures = probes.latency(port, body, self.config["requests"], connections)
            key = str(connections)
            self.report["p50_ms"][key], self.report["p99_ms"][key] = (figures["p50_ms"],
                                                                      figures["p99_ms"])
            if figures["errors"]:
                self.fail(f"{figures['errors']} of {figures['requests']} timed requests at "
                          f"{connections} connections were not answered 200")
            self.say(f"{figures['requests']} requests at {connections} connection(s): p50 "
                     f"{figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")
        memory = images.container_memory(name)
        self.report["memory_mib"] = round(memory / 1024**2, 1)
        self.say(f"container memory: {self.report['memory_mib']} MiB")

    def test(self, port: int, name: str, models: list) -> None:
        example = self.compare(port, models)
        self.check_cancel()
        self.report["bad_inputs"] = probes.send_bad_inputs(port, self.width(models, example),
                                                           example)
        for bad in self.report["bad_inputs"]:
            self.say(f"bad input {bad['name']!r}: {bad['status']} "
                     f"{'ok' if bad['passed'] else 'FAILED: ' + bad['reason']}")
        self.check_cancel()
        rows = (example or {}).get(probes.rows_key(example)) or [[1.0] * self.width(models, None)]
        self.measure(port, name, probes.body_for(rows[:1], example))

    def execute(self) -> dict:
        """Run every step; the report (also written to outputs/report.json)."""
        models = resolve_models(self.store, self.spec["models"])
        tag = self.build(models)  # Preparing, as Azure calls building a run's image
        self.check_cancel()
        self.store.set_run_state(self.run.id, "Running")
        name = container_name(self.ws, self.run.id)
        try:
            port = self.start(tag, name)
            if port is not None:
                self.test(port, name, models)
        finally:
            images.remove_container(name, timeout=5)
            self.say(f"container {name} removed")
        self.conclude()
        return self.report

    def conclude(self) -> None:
        report = self.report
        if report["mismatches"]:
            self.fail(f"{len(report['mismatches'])} answers differ from the model's own")
        failed = [b["name"] for b in report["bad_inputs"] if not b["passed"]]
        if failed:
            self.fail(f"bad inputs not answered with a 4xx message: {', '.join(failed)}")
        report["passed"] = not report["failures"]
        path = self.ws.run_dir(self.run.id) / REPORT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2), encoding="utf-8")
        metrics = {"startup_s": report["startup_s"], "memory_mib": report["memory_mib"],
                   "image_mib": report["image_mib"], "mismatches": len(report["mismatches"])}
        for key in report["p50_ms"]:
            metrics[f"p50_ms_{key}"] = report["p50_ms"][key]
            metrics[f"p99_ms_{key}"] = report["p99_ms"][key]
        self.store.record_events(self.run.id, [
            {"type": "metric", "name": k, "kind": "scalar", "value": v}
            for k, v in metrics.items() if v is not None])


def execute(store: Store, ws: Workspace, settings: Settings, run: Run,
            on_end: Callable[[str], None] | None = None) -> dict | None:
    """Execute a claimed container-test run and record how it ended."""
    log_path = ws.run_dir(run.id) / LOG_FILE
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as out:
        job = Job(store, ws, settings, run, out)
        status, error, report = "Failed", None, None
        try:
            report = job.execute()
            status = "Completed" if report["passed"] else "Failed"
            if not report["passed"]:
                error = {"message": "; ".join(report["failures"]), "exit_code": None,
                         "stderr_tail": report["log_tail"] or ""}
        except Cancelled as err:
            status, error = "Canceled", {"message": str(err)}
        except Exception as err:  # noqa: BLE001 - the run records it; the agent goes on
            job.say(f"the container test could not run: {err}")
            error = {"message": f"The container test could not run: {err}", "exit_code": None,
                     "stderr_tail": ""}
        job.say(f"container test {status}")
    store.finish_run(run.id, status, error)
    if on_end:
        on_end(status)
    return report
