"""Confining user code on Linux with bubblewrap: what a training script or scoring server sees.

Inside the sandbox the host's filesystem is visible read-only, except what is hidden: the
workspace (its token, database, other runs, models, deployments), the service user's home, and
— when amlocal runs as root — every folder the sandbox's user could not enter anyway. Each is
replaced by an empty folder, and on top come back only what the command needs: its own run folder
read-write, environments, interpreters and amlocal's own files read-only. /tmp and /dev/shm are
private; /proc shows only the sandbox's processes (a PID namespace, whose processes all end when
its init ends). The network is the host's, so the control API and scoring ports on 127.0.0.1 stay
reachable.

As root, the command also runs as the unprivileged system user `amlocal-run`: under root's uid,
every root-owned file and socket that the read-only view still shows (the Docker socket, for one)
would be its own.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

RUN_USER = "amlocal-run"
FALLBACK_USER = "nobody"
PROBE_TIMEOUT_S = 20.0
SANDBOX_HOME = "/tmp"  # private to the sandbox and writable by its user


@dataclass(frozen=True)
class Mount:
    """One bubblewrap mount: a tmpfs hiding `path`, or `path` bound from the host."""

    path: Path
    kind: str  # "hide" | "ro" | "rw"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _traversable(folder: Path) -> bool:
    """Whether a user that owns nothing and is in no group may pass through `folder`."""
    try:
        return bool(os.stat(folder).st_mode & stat.S_IXOTH)
    except OSError:
        return True  # a missing folder hides nothing


def interpreter_paths(python: str) -> list[Path]:
    """The folders an interpreter needs: its venv, the real binary's prefix, pyvenv.cfg's home."""
    exe = Path(shutil.which(python) or python).absolute()
    found = [exe.parent.parent, Path(os.path.realpath(exe)).parent.parent]
    cfg = exe.parent.parent / "pyvenv.cfg"
    try:
        for line in cfg.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                found.append(Path(value.strip()).parent)
    except OSError:
        pass
    return found


def run_user(name: str = RUN_USER) -> tuple[str, int, int]:
    """(name, uid, gid) of the system user scripts run as under root; created when missing."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            entry = pwd.getpwnam(FALLBACK_USER)
    return entry.pw_name, entry.pw_uid, entry.pw_gid


@dataclass(frozen=True)
class Sandbox:
    """A bubblewrap sandbox: `command()` wraps a command line in it."""

    bwrap: str
    hide: tuple[Path, ...] = ()   # host folders replaced by empty ones (the workspace, home)
    show: tuple[Path, ...] = ()   # shown read-only to every command, even inside hidden ones
    user: tuple[str, int, int] | None = None  # (name, uid, gid) to run as; None: our own
    setpriv: str = "setpriv"

    def describe(self) -> str:
        """One line for the log: how user code is confined."""
        who = f"as the unprivileged user {self.user[0]}" if self.user else "as the service's user"
        return (f"user code runs in a bubblewrap sandbox {who}: the workspace's token, database "
                "and other runs are hidden, the host is read-only, /proc shows only the run")

    def mounts(self, writable: Iterable[Path], readable: Iterable[Path]) -> list[Mount]:
        """The mounts after the read-only root and the private /tmp, in the order to apply."""
        needed = [Mount(Path(p).absolute(), "rw") for p in writable]
        needed += [Mount(Path(p).absolute(), "ro") for p in (*self.show, *readable)]
        hidden = [Path(p).absolute() for p in self.hide]
        hidden.append(Path("/tmp"))
        if self.user is not None:  # a folder the user cannot enter is hidden too
            for mount in needed:
                for folder in reversed(mount.path.parents[:-1]):
                    if not any(_inside(folder, h) for h in hidden) and not _traversable(folder):
                        hidden.append(folder)
                        break
        plan = {(m.path, "hide") for m in map(lambda p: Mount(p, "hide"), hidden)}
        plan |= {(m.path, m.kind) for m in needed}
        ordered = sorted(plan, key=lambda pk: (len(pk[0].parts), pk[1] != "hide", str(pk[0])))
        return [Mount(path, kind) for path, kind in ordered
                if path != Path("/tmp") or kind != "hide"]

    def command(self, inner: list[str], cwd: Path, *, writable: Iterable[Path] = (),
                readable: Iterable[Path] = (), die_with_parent: bool = True,
                unset_env: Iterable[str] = ()) -> list[str]:
        """`inner` run inside the sandbox, in `cwd`, seeing `writable` and `readable`."""
        args = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--perms", "1777", "--tmpfs",
                "/dev/shm", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp",
                "--unshare-pid", "--unshare-ipc",
                "--unshare-cgroup-try"]
        if die_with_parent:
            args.append("--die-with-parent")
        done: list[Mount] = [Mount(Path("/"), "ro"), Mount(Path("/tmp"), "hide")]
        for mount in self.mounts(writable, readable):
            if mount.kind == "hide" and not mount.path.exists():
                continue  # nothing there to hide
            if mount.kind == "ro" and _covering(done, mount.path).kind != "hide":
                continue  # already visible, read-only, from the host
            args += _make_parents(_covering(done, mount.path), mount.path)
            if mount.kind == "hide":
                args += ["--perms", "0755", "--tmpfs", str(mount.path)]
            else:
                flag = "--bind" if mount.kind == "rw" else "--ro-bind-try"
                args += [flag, str(mount.path), str(mount.path)]
            done.append(mount)
        args += ["--chdir", str(cwd), "--setenv", "HOME", SANDBOX_HOME]
        for name in unset_env:
            args += ["--unsetenv", name]
        args.append("--")
        if self.user is not None:
            _, uid, gid = self.user
            args += [self.setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return args + list(inner)

    def owner(self) -> tuple[int, int]:
        """(uid, gid) for os.chown: the sandbox's user, or (-1, -1) (unchanged) without one."""
        return (self.user[1], self.user[2]) if self.user is not None else (-1, -1)

    def chown(self, path: Path) -> None:
        """Give `path` and everything under it (links not followed) to the sandbox's user."""
        if self.user is None:
            return
        uid, gid = self.owner()
        os.chown(path, uid, gid, follow_symlinks=False)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)

    def probe(self) -> str | None:
        """None if a sandbox starts here, else why not (bwrap's own words)."""
        try:
            proc = subprocess.run(self.command(["true"], Path("/")), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as err:
            return str(err)
        return None if proc.returncode == 0 else (proc.stderr.strip() or
                                                 f"exit code {proc.returncode}")


def _covering(done: list[Mount], path: Path) -> Mount:
    """The deepest mount made so far that holds `path`."""
    return max((m for m in done if _inside(path, m.path) and m.path != path),
               key=lambda m: len(m.path.parts))


def _make_parents(under: Mount, path: Path) -> list[str]:
    """Folders between a tmpfs and a mount point inside it, made enterable (0755)."""
    if under.kind != "hide":
        return []  # a host folder: they exist already
    args: list[str] = []
    for folder in reversed(path.parents):
        if folder != under.path and under.path in folder.parents:
            args += ["--perms", "0755", "--dir", str(folder)]
    return args


def detect(hide: Iterable[Path] = (), show: Iterable[Path] = (),
           bwrap: str | None = None) -> tuple[Sandbox | None, str]:
    """The sandbox to run user code in here, or None, with a sentence saying which and why."""
    found = bwrap or shutil.which("bwrap")
    if found is None:
        return None, "bubblewrap (bwrap) is not installed"
    user = None
    setpriv = shutil.which("setpriv") or "setpriv"
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            return None, "setpriv (util-linux) is missing, so scripts cannot drop root"
        user = run_user()
    home = Path(os.path.expanduser("~"))
    hidden = tuple(p for p in (*hide, home) if p != Path("/"))
    sandbox = Sandbox(found, hidden, tuple(show), user, setpriv)
    problem = sandbox.probe()
    if problem is not None:
        return None, f"bubblewrap cannot make a sandbox here: {problem}"
    return sandbox, sandbox.describe()
