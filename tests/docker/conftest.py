"""Fixtures for the Docker target: a real engine, an iris model, images and containers we clean up."""
from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import joblib
import pytest
import requests
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from service.targets import docker_image
from tests.dockerengine import REPO_ROOT, docker_engine  # noqa: F401  (a fixture)
from tests.polling import wait_for

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def free_port() -> int:
    """A port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def iris_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registered-model folder holding the iris SVC as model.joblib."""
    features, labels = load_iris(return_X_y=True)
    x_train, _, y_train, _ = train_test_split(features, labels, random_state=0)
    folder = tmp_path_factory.mktemp("sklearn-iris-1")
    joblib.dump(SVC(kernel="linear").fit(x_train, y_train), folder / "model.joblib")
    return folder


@dataclass
class Docker:
    """Verbs over the docker target that remember every image and container they made."""

    base_image: str
    workdir: Path
    repo_root: Path
    tags: set[str] = field(default_factory=set)
    containers: set[str] = field(default_factory=set)

    def context(self, models, entry_script=None, **kwargs) -> docker_image.BuildContext:
        """A fresh build context under the session's tmp folder."""
        kwargs.setdefault("base_image", self.base_image)
        dest = self.workdir / f"ctx-{uuid.uuid4().hex[:8]}"
        return docker_image.make_context(dest, self.repo_root, models, entry_script, **kwargs)

    def build(self, ctx: docker_image.BuildContext, log: Path | None = None) -> str:
        """Build (or reuse) ctx's image and remember its tag for clean-up."""
        tag = docker_image.build_image(ctx, log or ctx.path.parent / f"{ctx.path.name}.log")
        self.tags.add(tag)
        return tag

    def run(self, tag: str, env: dict[str, str] | None = None) -> tuple[str, str]:
        """Start a container from tag on a free port; return (name, base url)."""
        name = f"amlocal-test-{uuid.uuid4().hex[:8]}"
        port = free_port()
        self.containers.add(name)
        docker_image.run_container(name, tag, port, env or {})
        return name, f"http://127.0.0.1:{port}"

    def wait_healthy(self, name: str, url: str, timeout: float = 90) -> None:
        """Poll GET / until the server answers Healthy; fail at once if the container exits."""
        def probe() -> str | bool:
            state = docker_image.container_state(name)
            if state != "running":
                return state  # truthy: stop waiting, there is nothing left to poll
            try:
                answered = requests.get(url + "/", timeout=2).text.strip() == "Healthy"
            except requests.RequestException:
                return False
            return "healthy" if answered else False
        outcome = wait_for(probe, timeout=timeout, interval=0.2, message=f"{name} healthy")
        if outcome != "healthy":
            raise AssertionError(f"container {name} is {outcome}:\n"
                                 f"{docker_image.container_logs(name, 50)}")

    def clean(self) -> None:
        """Remove the containers and images this session made, by name and tag."""
        # One forced call each: a graceful stop per container would only slow the session's end.
        if self.containers:
            subprocess.run(["docker", "rm", "-f", *sorted(self.containers)], capture_output=True,
                           timeout=120, check=False)
        # Images built on others go first (amlocal-scoring:* sorts before amlocal-test/*).
        for tag in sorted(self.tags):
            docker_image.remove_image(tag)
        leftover = [n for n in self.containers if docker_image.container_state(n) != "missing"]
        assert not leftover, f"containers left behind: {leftover}"


@pytest.fixture(scope="session")
def docker(docker_engine, tmp_path_factory) -> Iterator[Docker]:  # noqa: F811
    """The docker target's verbs on the session's engine; cleans up what it made."""
    # One copy of what goes into images for the whole session: the working tree may change under
    # us (other people edit scoring/), and "unchanged inputs, same tag" must hold within a session.
    repo = tmp_path_factory.mktemp("repo")
    for folder in ("scoring", "docker"):
        shutil.copytree(REPO_ROOT / folder, repo / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    helper = Docker(base_image=docker_engine.base_image, workdir=tmp_path_factory.mktemp("docker"),
                    repo_root=repo)
    try:
        yield helper
    finally:
        helper.clean()
