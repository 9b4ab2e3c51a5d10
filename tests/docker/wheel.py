"""amlocal as a user gets it: a wheel built from the tree, installed non-editable into a fresh venv
outside the checkout, and its `amlocal serve` started from there.

The venv is cached by the sha256 of the files that go into the wheel
(/var/cache/amlocal/wheel-venvs/<hash>, the last few kept): an unchanged tree reuses it, and uv's
package cache keeps a new one's install short. The cache is outside $HOME, which the sandbox
hides from user code (a run's interpreter is the venv's).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.dockerengine import REPO_ROOT
from tests.polling import wait_for

CACHE = Path(os.environ.get("AMLOCAL_CACHE_DIR", "/var/cache/amlocal")) / "wheel-venvs"
KEEP = 3
SOURCES = ("setup.py", "MANIFEST.in", "README.md", "service", "training", "scoring",
           "environments", "amlocal", "docker")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")


def copy_sources(dest: Path) -> str:
    """Copy what the wheel is built from into dest (the checkout stays untouched); its sha256."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORE)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    digest = hashlib.sha256()
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        digest.update(path.relative_to(dest).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _prune() -> None:
    venvs = sorted(CACHE.glob("*/ready"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in venvs[KEEP:]:
        shutil.rmtree(stale.parent, ignore_errors=True)


def installed_venv(workdir: Path) -> Path:
    """A venv holding the wheel of the current tree (built and installed when not cached)."""
    src = workdir / "src"
    key = copy_sources(src)
    venv = CACHE / key
    if (venv / "ready").exists():
        (venv / "ready").touch()
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    dist = workdir / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist),
                    str(src)], check=True, timeout=600, cwd=workdir)
    wheel = next(dist.glob("amlocal-*.whl"))
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True,
                   timeout=120, cwd=workdir)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                    str(wheel)], check=True, timeout=900, cwd=workdir)
    (venv / "ready").write_text(wheel.name + "\n")
    _prune()
    return venv


@dataclass
class InstalledService:
    """`amlocal serve` from the installed venv, on its own workspace; the CLI beside it."""

    venv: Path
    workdir: Path
    port: int
    base_image: str
    proc: subprocess.Popen | None = None
    env: dict = field(default_factory=dict)
    built: set = field(default_factory=set)  # image tags to remove at the end
    deployed_image: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # No PYTHONPATH and a cwd outside the checkout: only the installed amlocal is importable.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AMLOCAL_", "PYTHON", "VIRTUAL_ENV"))}
        self.env.update(AMLOCAL_WORKSPACE=str(self.workdir / "ws"), AMLOCAL_URL=self.url,
                        AMLOCAL_DOCKER_BASE_IMAGE=self.base_image,
                        PATH=f"{self.venv / 'bin'}:{os.environ['PATH']}")
        log = open(self.workdir / "serve.log", "ab")
        self.proc = subprocess.Popen([str(self.venv / "bin" / "amlocal"), "serve", "--port",
                                      str(self.port)], cwd=self.workdir, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        wait_for(self._answers, timeout=120, message="the installed amlocal serve")

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"amlocal serve exited {self.proc.returncode}:\n"
                                 f"{(self.workdir / 'serve.log').read_text()[-3000:]}")
        try:
            return requests.get(self.url + "/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """The installed `amlocal` command, run from the work folder."""
        return subprocess.run([str(self.venv / "bin" / "amlocal"), *args], cwd=self.workdir,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def python(self, code: str) -> str:
        """What the installed venv's python prints for `code`."""
        return subprocess.run([str(self.venv / "bin" / "python"), "-c", code], cwd=self.workdir,
                              env=self.env, capture_output=True, text=True, timeout=120,
                              check=True).stdout.strip()

    def stop(self) -> None:
        """SIGTERM to the service's process group (it stops its agent), then wait."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
