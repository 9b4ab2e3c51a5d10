"""Getting the peers ready: one venv per peer under .peers/, and wrk from Debian's packages."""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = REPO / ".peers"

# The model is a joblib pickle: every venv that loads it must have our scikit-learn, numpy and joblib.
SHARED_PINS = ("scikit-learn", "numpy", "joblib")


class PeerSetupError(RuntimeError):
    """A peer or a tool could not be installed."""


@dataclass(frozen=True)
class Peer:
    """A peer server installed in its own venv: what to install and which command proves it is there."""

    name: str
    requirement: str
    command: str

    @property
    def venv(self) -> Path:
        """The peer's venv folder."""
        return PEERS_DIR / self.name

    @property
    def python(self) -> Path:
        """The peer venv's interpreter."""
        return self.venv / "bin" / "python"

    @property
    def executable(self) -> Path:
        """The peer's console script inside its venv."""
        return self.venv / "bin" / self.command


PEERS = {
    "azmlinfsrv": Peer("azmlinfsrv", "azureml-inference-server-http==1.5.1", "azmlinfsrv"),
    "mlflow": Peer("mlflow", "mlflow", "mlflow"),
}


def shared_pins() -> list[str]:
    """Requirements pinning the peers to this interpreter's scikit-learn, numpy and joblib."""
    return [f"{name}=={metadata.version(name)}" for name in SHARED_PINS]


def installed_version(python: Path, distribution: str) -> str | None:
    """The version of `distribution` in the venv of `python`, or None when it is absent."""
    code = ("import sys\nfrom importlib import metadata\n"
            "try: print(metadata.version(sys.argv[1]))\n"
            "except metadata.PackageNotFoundError: pass\n")
    done = subprocess.run([str(python), "-c", code, distribution],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def venv_is_ready(peer: Peer) -> bool:
    """True when the peer's command exists and its shared packages match ours exactly."""
    if not peer.executable.exists() or not peer.python.exists():
        return False
    for pin in shared_pins():
        name, version = pin.split("==")
        if installed_version(peer.python, name) != version:
            return False
    return True


def uv_command() -> str:
    """The uv executable: the one beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise PeerSetupError("uv is not installed (pip install uv)")
    return found


def ensure_peer(peer: Peer, log=print) -> Peer:
    """Create the peer's venv with uv when it is missing or stale; reuse it otherwise."""
    if venv_is_ready(peer):
        log(f"peer {peer.name}: reusing {peer.venv}")
        return peer
    uv = uv_command()
    log(f"peer {peer.name}: installing {peer.requirement} into {peer.venv}")
    try:
        if not peer.python.exists():
            subprocess.run([uv, "venv", "--python", sys.executable, str(peer.venv)],
                           check=True, capture_output=True, text=True)
        subprocess.run([uv, "pip", "install", "--python", str(peer.python), peer.requirement,
                        *shared_pins()], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as err:
        raise PeerSetupError(f"installing {peer.requirement} failed: {err.stderr[-2000:]}") from err
    if not venv_is_ready(peer):
        raise PeerSetupError(f"{peer.executable} missing after installing {peer.requirement}")
    return peer


def ensure_wrk(log=print) -> str:
    """Return the wrk executable, installing Debian's package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk: apt-get install -y wrk")
    # Other sessions may hold the dpkg lock for a while; wait for it instead of failing.
    install = ["apt-get", "install", "-y", "-o", "DPkg::Lock::Timeout=300", "wrk"]
    done = subprocess.run(install, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, text=True, check=False)
        done = subprocess.run(install, capture_output=True, text=True, check=False)
    found = shutil.which("wrk")
    if not found:
        raise PeerSetupError(f"apt-get install wrk failed: {done.stderr[-2000:]}")
    return found
