"""The docker target: the same scoring image that would go to ACI, run with `--network host`.

Each generation is one container `amlocal-<name>-<generation>` built from a context laid out by
`docker_image.make_context`; images are tagged by the hash of what went in, so an unchanged
generation (a restart, a rollback) reuses its image. Like the local target, the container binds
the deployment's port with SO_REUSEPORT and a private health port, so updates keep the port.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..environments import ScoringEnvironment
from ..store import Workspace
from ..store.deployments import Deployment
from . import StartRequest
from . import docker_image as images
from .health import StartFailed
from .layout import AppLayout, MODELS_DIR, generation_dir
from .local import tail

def container_name(name: str, generation: int) -> str:
    """One container per generation, so two can run during a swap."""
    return f"amlocal-{name}-{generation}"


def models_of(layout: AppLayout) -> list[tuple[str, str, Path]]:
    base = layout.app_root / MODELS_DIR
    return [(name_dir.name, version_dir.name, version_dir)
            for name_dir in sorted(p for p in base.iterdir() if p.is_dir())
            for version_dir in sorted(p for p in name_dir.iterdir() if p.is_dir())]


def build_layout_image(layout: AppLayout, environment: ScoringEnvironment | None,
                       base_image: str, repo_root: Path | None = None) -> str:
    """Build (or reuse: the tag is the content's hash) the image that serves `layout`."""
    entry = None if layout.source_dir is None else Path(layout.entry_script)
    requirements = None
    if environment is not None and environment.spec is not None:
        # the environment becomes the image's install step
        requirements = layout.root / "requirements.txt"
        requirements.write_text("\n".join(environment.requirements()) + "\n")
    ctx = images.make_context(layout.root / "context", repo_root, models_of(layout), entry,
                              base_image, source_dir=layout.source_dir, requirements=requirements)
    return images.build_image(ctx, layout.log_dir / "build.log")


class DockerTarget:
    """Builds (or reuses) the generation's image and runs it as a host-network container."""

    kind = "docker"
    remote = False
    check_interval_s = 2.0  # each check is a `docker inspect`

    def __init__(self, base_image: str = images.DEFAULT_BASE_IMAGE,
                 repo_root: Path | None = None):
        # repo_root None: scoring/ and the Dockerfile come from the installed amlocal
        self.base_image, self.repo_root = base_image, repo_root

    def start(self, request: StartRequest) -> dict[str, Any]:
        """Build or reuse the image, then `docker run` it; returns the runtime facts."""
        layout = request.layout
        try:
            tag = build_layout_image(layout, request.environment, self.base_image,
                                     self.repo_root)
            container = container_name(request.name, request.generation)
            images.remove_container(container, timeout=0)  # a leftover from a crashed agent
            env = {"WORKER_COUNT": str(request.worker_count), "SERVICE_NAME": request.name,
                   **request.scoring_env}
            if request.keys:
                env["AMLOCAL_SCORING_KEYS"] = ",".join(request.keys)
            images.run_container(container, tag, request.port, env, cpus=request.cpu_cores,
                                 memory_gb=request.memory_gb,
                                 args=("--reuse_port", "--health_port", str(request.health_port)))
        except images.DockerError as err:
            raise StartFailed(str(err)) from err
        return {"kind": self.kind, "name": request.name, "container": container, "image": tag,
                "generation": request.generation, "health_port": request.health_port,
                "build_log": str(layout.log_dir / "build.log")}

    def is_running(self, runtime: dict) -> bool:
        """Whether the generation's container runs."""
        try:
            return images.container_state(runtime["container"]) == "running"
        except (images.DockerError, KeyError):
            return False

    def stop(self, runtime: dict, grace_s: float = 35.0) -> None:
        """`docker stop` (SIGTERM: in-flight requests finish), then remove the container."""
        if runtime.get("container"):
            images.remove_container(runtime["container"], timeout=int(grace_s))

    def kill_group(self, runtime: dict) -> None:
        """Remove the container at once, keeping its output beside the build log (for /logs)."""
        if not runtime.get("container"):
            return
        text = self.logs(runtime, 5000)
        if text and runtime.get("build_log"):
            Path(runtime["build_log"]).with_name("scoring.log").write_text(text, encoding="utf-8")
        images.remove_container(runtime["container"], timeout=0)

    def delete(self, dep: Deployment) -> None:
        """Nothing beyond the containers, which the reconciler has removed."""

    def logs(self, runtime: dict, lines: int) -> str:
        """The container's output (empty when it is gone)."""
        try:
            return images.container_logs(runtime["container"], lines)
        except (images.DockerError, KeyError):
            return ""


def deployment_logs(ws: Workspace, dep: Deployment, lines: int) -> str:
    """The newest container's log, or the build log when there is no container."""
    target = DockerTarget()
    for key in ("pending", "serving"):
        runtime = dep.runtime.get(key)
        if runtime and runtime.get("generation") == dep.generation:
            text = target.logs(runtime, lines)
            if text:
                return text
    folder = generation_dir(ws, dep.name, dep.generation) / "logs"
    text = tail(folder / "scoring.log", lines) or tail(folder / "build.log", lines)
    serving = dep.runtime.get("serving")
    if not text and serving:
        text = target.logs(serving, lines)
    return text
