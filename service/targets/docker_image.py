"""Docker deployment target: build the scoring image for a deployment and run it as a container.

The build context is generated (see docker/scoring.Dockerfile for its layout) and the image tag is
the hash of everything that went into it, so an unchanged deployment reuses its image. Containers
run with `--network host` (the engines we run on have no usable bridge) and carry labels that find
them again after a restart of the service. Only the `docker` command line is used.

What goes into every image (the scoring package, the Dockerfile, the requirements list) comes from
the installed amlocal (environments/image_files.py says where), never from the working directory.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import scoring
from environments.image_files import image_file as installed_image_file

DEFAULT_BASE_IMAGE = "python:3.11-slim"
IMAGE_REPOSITORY = "amlocal-scoring"
LABEL_KIND = "amlocal.kind"
LABEL_DEPLOYMENT = "amlocal.deployment"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
NOCODE_ENTRY = Path("scoring") / "nocode.py"
INSTALLED_ROOT = Path(scoring.__file__).resolve().parent.parent      # holds the scoring package
CONTEXT_MARKER = ".amlocal-context"
_SKIP_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
_SAFE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-._]{0,254}$")  # Azure ML's model-name rule


class DockerError(Exception):
    """A docker command failed; the message carries its output."""

    status = 500


class DockerUnavailable(DockerError):
    """No docker client on PATH or no engine answering."""

    status = 503


class ImageBuildError(DockerError):
    """`docker build` failed; the build log holds the details."""


class ContextError(DockerError):
    """The inputs for a build context are unusable (bad model folder, entry script, dest)."""

    status = 400


class ContainerNotFound(DockerError):
    """No container by that name."""

    status = 404


def image_file(name: str) -> Path:
    """A file every scoring image is built from: the wheel's copy, else the checkout's docker/."""
    try:
        return installed_image_file(name)
    except FileNotFoundError as err:
        raise ContextError(str(err)) from err


def _image_source(repo_root: Path | None, name: str) -> Path:
    """docker/<name> of an explicit tree (tests pin one), else the installed amlocal's."""
    return repo_root / "docker" / name if repo_root is not None else image_file(name)


@dataclass(frozen=True)
class BuildContext:
    """A generated docker build context and the content-addressed tag its image gets."""

    path: Path
    tag: str
    build_args: dict[str, str] = field(default_factory=dict)


def _docker(*args: str, timeout: float = 60.0, check: bool = True,
            stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess:
    """Run one docker CLI command; raise DockerError with its output when it fails."""
    exe = shutil.which("docker")
    if exe is None:
        raise DockerUnavailable("no `docker` client on PATH (see docker/prepare-engine.sh)")
    try:
        proc = subprocess.run([exe, *args], stdout=stdout, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        raise DockerError(f"docker {args[0]} timed out after {timeout}s") from err
    if check and proc.returncode != 0:
        detail = (proc.stderr or "").strip() or (proc.stdout or "").strip()
        if "Cannot connect to the Docker daemon" in detail:
            raise DockerUnavailable(detail)
        raise DockerError(f"docker {args[0]} failed ({proc.returncode}): {detail}")
    return proc


def _skip(path: Path) -> bool:
    """Bytecode and tool caches vary between machines; they must not change the image hash."""
    return path.name in _SKIP_NAMES or path.name.endswith(_SKIP_SUFFIXES)


def _copy_tree(src: Path, dest: Path) -> None:
    """Copy a folder without caches, keeping only regular files and folders."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in sorted(src.iterdir()):
        if _skip(item):
            continue
        if item.is_dir():
            _copy_tree(item, dest / item.name)
        elif item.is_file():
            shutil.copy2(item, dest / item.name)


def _prepare_dest(dest: Path) -> None:
    """Create an empty context folder; replace only a folder this module made earlier."""
    if dest.exists():
        if not (dest / CONTEXT_MARKER).exists() and any(dest.iterdir()):
            raise ContextError(f"dest {dest} exists, is not empty and is not a build context")
        shutil.rmtree(dest)
    dest.mkdir(parents=True)


def _layout_models(models: list[tuple[str, str | int, Path]], root: Path) -> str:
    """Lay models out as azureml-models/<name>/<version>/; return AZUREML_MODEL_DIR's tail."""
    base = root / "azureml-models"
    base.mkdir(parents=True)
    for name, version, src in models:
        src = Path(src)
        # Registry names never hold a separator; refuse anything that could leave the folder.
        if not _SAFE_NAME.fullmatch(name) or not _SAFE_NAME.fullmatch(str(version)):
            raise ContextError(f"models: model name {name!r} or version {version!r} is not a "
                               "valid model name/version")
        if not src.is_dir():
            raise ContextError(f"models: {name}:{version}: model folder {src} does not exist")
        _copy_tree(src, base / name / str(version))
    if len(models) == 1:
        name, version, _ = models[0]
        return f"azureml-models/{name}/{version}"
    return "azureml-models"  # several models: Azure points at the common folder


def _layout_app(repo_root: Path, entry_script: Path | None, source_dir: Path | None,
                app: Path) -> str:
    """Put the entry script (or the no-code entry) in the app root; return its file name."""
    app.mkdir(parents=True)
    if entry_script is None:
        nocode = repo_root / NOCODE_ENTRY
        if not nocode.is_file():
            raise ContextError(f"entry_script: no-code entry {nocode} is missing")
        shutil.copy2(nocode, app / nocode.name)
        return nocode.name
    entry_script = Path(entry_script)
    if source_dir is not None:
        source_dir = Path(source_dir)
        full = entry_script if entry_script.is_absolute() else source_dir / entry_script
        try:
            relative = full.resolve().relative_to(source_dir.resolve())
        except ValueError as err:
            raise ContextError(f"entry_script: {entry_script} is not inside {source_dir}") from err
        if not full.is_file():
            raise ContextError(f"entry_script: {full} does not exist")
        _copy_tree(source_dir, app)
        return relative.as_posix()
    if not entry_script.is_file():
        raise ContextError(f"entry_script: {entry_script} does not exist")
    if entry_script.suffix != ".py":
        raise ContextError(f"entry_script: {entry_script.name} is not a .py file")
    shutil.copy2(entry_script, app / entry_script.name)
    return entry_script.name


def _hash_context(path: Path, build_args: dict[str, str]) -> str:
    """sha256 over every file's relative path, exec bit and bytes, then the build args."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel == CONTEXT_MARKER:
            continue
        digest.update(f"{rel}\0{os.access(file, os.X_OK):d}\0".encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    for key in sorted(build_args):
        digest.update(f"arg\0{key}={build_args[key]}\0".encode())
    return digest.hexdigest()


def make_context(dest: Path, repo_root: Path | None, models: list[tuple[str, str | int, Path]],
                 entry_script: Path | None, base_image: str = DEFAULT_BASE_IMAGE, *,
                 source_dir: Path | None = None, ca_file: Path | None = CA_BUNDLE,
                 requirements: Path | None = None) -> BuildContext:
    """Generate the scoring image's build context in `dest`; tag it by the hash of its inputs.

    `repo_root` None takes scoring/ and the docker files from the installed amlocal."""
    dest = Path(dest)
    repo_root = None if repo_root is None else Path(repo_root)
    _prepare_dest(dest)
    build = dest / "build"
    build.mkdir()
    shutil.copy2(_image_source(repo_root, "scoring.Dockerfile"), dest / "Dockerfile")
    shutil.copy2(requirements or _image_source(repo_root, "scoring-requirements.txt"),
                 build / "scoring-requirements.txt")
    ca = build / "ca-certificates.crt"
    if ca_file is not None and Path(ca_file).is_file():
        shutil.copy2(ca_file, ca)
    else:
        ca.write_bytes(b"")  # the Dockerfile copies it unconditionally; empty means "no PIP_CERT"
    root = INSTALLED_ROOT if repo_root is None else repo_root
    if not (root / "scoring").is_dir():
        raise ContextError(f"repo_root: {root} has no scoring/ package")
    _copy_tree(root / "scoring", dest / "scoring")
    model_dir = _layout_models(models, dest / "models")
    entry = _layout_app(root, entry_script, source_dir, dest / "app")
    build_args = {"BASE_IMAGE": base_image, "ENTRY_SCRIPT": entry, "MODEL_DIR": model_dir}
    tag = f"{IMAGE_REPOSITORY}:{_hash_context(dest, build_args)[:16]}"
    (dest / CONTEXT_MARKER).write_text(tag + "\n", encoding="utf-8")
    return BuildContext(path=dest, tag=tag, build_args=build_args)


def image_exists(tag: str) -> bool:
    """Whether the engine holds an image with this tag."""
    return _docker("image", "inspect", tag, check=False).returncode == 0


def build_image(ctx: BuildContext, log_path: Path, *, timeout: float = 1800.0,
                force: bool = False) -> str:
    """Build ctx's image (reusing an existing one with the same tag); append output to log_path."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not force and image_exists(ctx.tag):
        with log_path.open("a", encoding="utf-8") as log:
            log.write(f"amlocal: image {ctx.tag} exists; reused without a build\n")
        return ctx.tag
    args = ["build", "--network", "host", "--label", f"{LABEL_KIND}=scoring", "-t", ctx.tag]
    for key, value in sorted(ctx.build_args.items()):
        args += ["--build-arg", f"{key}={value}"]
    exe = shutil.which("docker")
    if exe is None:
        raise DockerUnavailable("no `docker` client on PATH (see docker/prepare-engine.sh)")
    started = time.monotonic()
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"amlocal: docker {' '.join(args)} {ctx.path}\n")
        log.flush()
        try:
            proc = subprocess.run([exe, *args, str(ctx.path)], stdout=log,
                                  stderr=subprocess.STDOUT, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            raise ImageBuildError(f"docker build of {ctx.tag} timed out after {timeout}s; "
                                  f"see {log_path}") from err
        log.write(f"amlocal: build exited {proc.returncode} after "
                  f"{time.monotonic() - started:.1f}s\n")
    if proc.returncode != 0:
        raise ImageBuildError(f"docker build of {ctx.tag} failed ({proc.returncode}): "
                              f"{_last_line(log_path)} (full log: {log_path})")
    return ctx.tag


def _last_line(path: Path) -> str:
    """The last non-empty line a build printed before amlocal's own footer."""
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
             if line.strip() and not line.startswith("amlocal:")]
    return lines[-1].strip() if lines else "no output"


def remove_image(tag: str) -> None:
    """Remove an image by tag or id; a missing one is not an error."""
    proc = _docker("image", "rm", "-f", tag, check=False)
    if proc.returncode != 0 and "No such image" not in proc.stderr:
        raise DockerError(f"docker image rm {tag} failed: {proc.stderr.strip()}")


def run_container(name: str, tag: str, port: int, env: dict[str, str],
                  host: str = "127.0.0.1", *, cpus: float | None = None,
                  memory_gb: float | None = None, args: tuple[str, ...] = ()) -> str:
    """Start the scoring container `name` from `tag` on host:port (host network); return its id."""
    command = ["run", "-d", "--name", name, "--network", "host",
               "--label", f"{LABEL_KIND}=scoring", "--label", f"{LABEL_DEPLOYMENT}={name}",
               "-e", f"SERVER_HOST={host}", "-e", f"SERVER_PORT={port}"]
    for key, value in sorted(env.items()):
        command += ["-e", f"{key}={value}"]
    if cpus is not None:
        command += ["--cpus", str(cpus)]
    if memory_gb is not None:
        command += ["--memory", f"{int(memory_gb * 1024)}m"]
    proc = _docker(*command, tag, "--port", str(port), "--host", host, *args)
    return proc.stdout.strip()


def container_state(name: str) -> str:
    """'running', 'exited' (stopped, dead or never started) or 'missing'."""
    proc = _docker("container", "inspect", "-f", "{{.State.Status}}", name, check=False)
    if proc.returncode != 0:
        if "No such" in proc.stderr:
            return "missing"
        raise DockerError(f"docker container inspect {name} failed: {proc.stderr.strip()}")
    return "running" if proc.stdout.strip() in ("running", "restarting") else "exited"


def container_logs(name: str, lines: int = 200) -> str:
    """The last `lines` lines the container wrote (stdout and stderr together)."""
    exe = shutil.which("docker")
    if exe is None:
        raise DockerUnavailable("no `docker` client on PATH (see docker/prepare-engine.sh)")
    proc = subprocess.run([exe, "logs", "--tail", str(int(lines)), name], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace", timeout=60,
                          check=False)
    if proc.returncode != 0:
        if "No such container" in proc.stdout:
            raise ContainerNotFound(f"no container named {name}")
        raise DockerError(f"docker logs {name} failed: {proc.stdout.strip()}")
    return proc.stdout


def remove_container(name: str, timeout: int = 10) -> None:
    """Stop (SIGTERM, then SIGKILL after `timeout` s) and remove a container; missing is fine."""
    stop = _docker("stop", "-t", str(timeout), name, check=False, timeout=timeout + 30)
    if stop.returncode != 0 and "No such container" in stop.stderr:
        return
    proc = _docker("rm", "-f", name, check=False)
    if proc.returncode != 0 and "No such container" not in proc.stderr:
        raise DockerError(f"docker rm {name} failed: {proc.stderr.strip()}")


def list_containers() -> dict[str, str]:
    """Every amlocal scoring container the engine knows: {name: state}, to adopt after restarts."""
    proc = _docker("ps", "-a", "--filter", f"label={LABEL_KIND}=scoring",
                   "--format", "{{.Names}}\t{{.State}}")
    found = {}
    for line in proc.stdout.splitlines():
        name, _, state = line.partition("\t")
        found[name] = "running" if state in ("running", "restarting") else "exited"
    return found


def image_size(tag: str) -> int:
    """An image's size in bytes, as `docker images` shows it (all its layers)."""
    return int(_docker("image", "inspect", "-f", "{{.Size}}", tag).stdout.strip())


_UNITS = {"b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "kb": 1000, "mb": 1000**2,
          "gb": 1000**3}


def container_memory(name: str) -> int:
    """A running container's memory use in bytes, as `docker stats` measures it (its cgroup's
    usage less the page cache)."""
    out = _docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).stdout.strip()
    used = out.split("/")[0].strip()
    match = re.fullmatch(r"([0-9.]+)\s*([A-Za-z]+)", used)
    if not match or match.group(2).lower() not in _UNITS:
        raise DockerError(f"docker stats {name}: cannot read the memory use from {out!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
