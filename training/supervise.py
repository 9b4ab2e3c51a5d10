"""Supervise one run's whole process tree: `python supervise.py --grace S [--sandboxed] -- CMD...`.

Standalone and standard-library only (the executor runs it by path with its own interpreter). It
makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`), so every process the command starts
stays its descendant — even one that double-forks into a new session, which would otherwise be
adopted by init and outlive the run. Then:

- when the command exits, whatever it left behind is SIGKILLed and reaped;
- on SIGTERM (the run is canceled or timed out) every process of the tree gets SIGTERM, and
  SIGKILL once the grace period is over;
- if the process that started it dies (the agent), it acts as on SIGTERM (`PR_SET_PDEATHSIG`).

It exits with the command's status; a command killed by a signal is re-raised as that signal, so
the executor sees the same status as without it. With `--sandboxed` the command is bubblewrap:
its own processes (named `bwrap`) get no SIGTERM — bwrap would SIGKILL the sandbox at once —
only the user's processes inside do; the sandbox's PID namespace ends with its init anyway.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
SANDBOX_COMM = "bwrap"
WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
SETTLE_S = 0.05  # how often to look again while killed processes are being reaped


def _ppid_and_comm(pid: int) -> tuple[int, str] | None:
    """A live process's parent and name from /proc/<pid>/stat (None: gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    head, _, rest = stat.rpartition(")")
    return int(rest.split()[1]), head.partition("(")[2]


def descendants(root: int) -> list[tuple[int, str]]:
    """(pid, name) of every process below `root`, parents before children."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _ppid_and_comm(int(entry))
            if found is not None:
                children.setdefault(found[0], []).append((int(entry), found[1]))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            out.append(child)
            todo.append(child[0])
    return out


def signal_tree(root: int, sig: int, spare_sandbox: bool = False) -> int:
    """Send `sig` to every process below `root`; returns how many there were."""
    tree = descendants(root)
    for pid, comm in tree:
        if spare_sandbox and comm == SANDBOX_COMM:
            continue
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    return len(tree)


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def _spawn(command: list[str]) -> int:
    """fork + exec with the signal mask cleared (ours blocks what sigtimedwait waits for)."""
    pid = os.fork()
    if pid == 0:
        try:
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # as subprocess's restore_signals
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.execvp(command[0], command)
        except OSError as err:
            os.write(2, f"could not start {command[0]!r}: {err.strerror}\n".encode())
        os._exit(127)
    return pid


def _reap(main: int) -> int | None:
    """Reap every finished child; return the main command's wait status if it was among them."""
    status = None
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == main:
            status = code


def supervise(command: list[str], grace_s: float, sandboxed: bool) -> int:
    """Run `command` and its whole tree to the end; return its wait status."""
    me, parent = os.getpid(), os.getppid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    main = _spawn(command)
    stopping = os.getppid() != parent  # the parent died before PDEATHSIG was armed
    kill_at, status = None, None
    while True:
        if stopping and kill_at is None:
            signal_tree(me, signal.SIGTERM, spare_sandbox=sandboxed)
            kill_at = time.monotonic() + grace_s
        found = _reap(main)
        status = found if found is not None else status
        if status is not None or (kill_at is not None and time.monotonic() >= kill_at):
            if not signal_tree(me, signal.SIGKILL) and status is not None:
                return status
            timeout = SETTLE_S
        else:
            timeout = None if kill_at is None else max(0.0, kill_at - time.monotonic())
        if timeout is None:
            got = signal.sigwaitinfo(WATCHED)
        else:
            got = signal.sigtimedwait(WATCHED, timeout) if timeout > 0 else None
        if got is not None and got.si_signo != signal.SIGCHLD:
            stopping = True


def _exit_like(status: int) -> None:
    """Exit with the command's status; a signal death is re-raised as the same signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        sys.exit(128 + sig)
    sys.exit(os.waitstatus_to_exitcode(status))


def main(argv: list[str]) -> None:
    """`supervise.py --grace S [--sandboxed] -- COMMAND [ARGS...]`."""
    grace_s, sandboxed = 3.0, False
    while argv and argv[0] != "--":
        flag = argv.pop(0)
        if flag == "--grace":
            grace_s = float(argv.pop(0))
        elif flag == "--sandboxed":
            sandboxed = True
        else:
            sys.exit(f"supervise.py: unknown option {flag!r}")
    if len(argv) < 2:
        sys.exit("usage: supervise.py --grace S [--sandboxed] -- COMMAND [ARGS...]")
    _exit_like(supervise(argv[1:], grace_s, sandboxed))


if __name__ == "__main__":
    main(sys.argv[1:])
