"""The introspection fork server (service/introspect/child.py --serve) ends quietly with the API."""
from __future__ import annotations

import select
import socket
import subprocess
import sys
import time

from service.introspect.parent import CHILD_SCRIPT


def test_the_fork_server_ends_quietly_when_the_api_leaves_its_ready_unread() -> None:
    """The API warms the server up at start and may never register a model: its side closes with
    the server's "ready" still unread, which the server sees as a reset, not an EOF."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen([sys.executable, str(CHILD_SCRIPT), "--serve", str(theirs.fileno()), "json"],
                            pass_fds=[theirs.fileno()], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    theirs.close()
    try:
        deadline = time.monotonic() + 120
        while not select.select([ours], [], [], 0.5)[0]:  # its "ready", sent once it has imported
            assert proc.poll() is None and time.monotonic() < deadline, "the server never got ready"
        ours.close()  # unread
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and b"Traceback" not in stderr, stderr.decode(errors="replace")
