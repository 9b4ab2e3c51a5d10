"""A gunicorn worker that keeps connections alive and runs every request in its main thread.

gunicorn's sync worker (what azmlinfsrv uses) closes the connection after each response, so a
client pays a TCP handshake per request. Its gthread worker keeps connections alive but hands each
request to a pool thread and the result back to the main thread through a pipe: two thread
switches and a GIL handoff per request, which cost more than the handshake (bench/README.md).
Scoring is CPU-bound under the GIL, so a thread pool buys nothing. This worker is gthread with
the pool taken out: the same poller, keep-alive, body draining, connection limits and graceful
stop, but each request is served inline, one per ready connection per pass (round robin, so a
connection sending 1000-row bodies cannot starve the others). Running in the main thread also
lets the scoring deadline use SIGALRM, as under the sync worker. The per-request log lines are
written when the worker is about to wait for the network, after the responses went out.
"""
from __future__ import annotations

import select
import socket
import struct
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable, Iterable

import gunicorn
from gunicorn.workers import gthread

from .logs import hold_info_lines


def supported() -> bool:
    """Whether the installed gunicorn has the gthread internals this worker builds on (27 and later)."""
    return tuple(gunicorn.version_info[:1]) >= (27,) and hasattr(gthread, "_DEFER")


class _NoPool:
    """Stands where gthread keeps its thread pool: nothing is ever submitted to it."""

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Nothing to stop."""


def _readable_now(sock: Any) -> bool:
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):  # closed meanwhile: let handle() find out and drop it
        return True


class KeepAliveWorker(gthread.ThreadWorker):
    """gthread's event loop and connection handling; requests run inline, round robin."""

    # A client that stops sending (mid-request) or receiving (mid-response) for this long is
    # dropped: it holds the worker meanwhile, as it would under the sync worker. Set from the
    # AMLOCAL_CLIENT_TIMEOUT setting by the server before the workers fork.
    client_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ready: deque[gthread.TConn] = deque()
        self.flush_log: Callable[[], None] = lambda: None

    def init_process(self) -> None:
        self.flush_log = hold_info_lines()
        try:
            super().init_process()  # loads the app, then runs the loop until the worker stops
        finally:
            self.flush_log()

    def get_thread_pool(self) -> _NoPool:
        return _NoPool()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = _response_tweaks(self.wsgi)

    def enqueue_req(self, conn: gthread.TConn) -> None:
        """Queue the connection for the next pass (gthread submits it to a thread here)."""
        self.ready.append(conn)

    def handle(self, conn: gthread.TConn) -> Any:
        # A new connection with nothing sent yet waits in the poller, never in this thread
        # (gthread lets a pool thread wait for it).
        if not conn.initialized:
            if not conn.data_ready and not _readable_now(conn.sock):
                return gthread._DEFER
            _limit_stalls(conn.sock, self.client_timeout_s)
        return super().handle(conn)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if not self.ready:
            self.flush_log()  # the lines of the requests just answered, before waiting for more
        super().wait_for_and_dispatch_events(0 if self.ready else timeout)
        # One request per ready connection per pass; a connection with a pipelined request
        # already buffered goes back to the end of the queue.
        for _ in range(len(self.ready)):
            conn = self.ready.popleft()
            done: Future = Future()
            done.set_result(self.handle(conn))  # handle() answers every Exception itself
            self.finish_request(conn, done)

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            # Stopping: release the listeners now, not after the kept-alive connections linger,
            # so that with SO_REUSEPORT new connections go to the next generation straight away
            # (and those queued here migrate to it, with net.ipv4.tcp_migrate_req=1).
            for listener in self.sockets:
                listener.close()


def _limit_stalls(sock: socket.socket, seconds: float) -> None:
    """Time out a blocking recv/send that waits longer than `seconds` (kernel socket options: they
    survive the switches between blocking and non-blocking mode that gthread makes)."""
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    except OSError:  # the client is already gone: handle() will find out
        pass


def _response_tweaks(app: Callable) -> Callable:
    """Two things gunicorn's worker does not do for the app.

    - A `Connection: close` from the app closes the connection after the response. gunicorn drops
      hop-by-hop headers an app sets, so a 413 whose body was never read would otherwise announce
      keep-alive. (The start_response gunicorn passes is a method of its Response.)
    - The head and body of a response leave in one TCP segment. gunicorn writes them with two
      sends on a TCP_NODELAY socket, so a client can wake up twice per response. TCP_CORK holds
      them until the response is done (gunicorn calls the body's close() after writing it).
    """

    def wrapped(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        response = getattr(start_response, "__self__", None)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if response is not None and any(name.lower() == "connection" and value.lower() == "close"
                                            for name, value in headers):
                response.force_close()
            return start_response(status, headers, exc_info)

        sock = getattr(response, "sock", None)
        if not _cork(sock, True):
            return app(environ, start)
        try:
            body = app(environ, start)
        except BaseException:
            _cork(sock, False)
            raise
        if isinstance(body, environ["wsgi.file_wrapper"]):  # keep gunicorn's sendfile path
            _cork(sock, False)
            return body
        return _Uncork(body, sock)

    return wrapped


def _cork(sock: Any, on: bool) -> bool:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, int(on))
        return True
    except (AttributeError, OSError):  # not a TCP socket, or the client is gone
        return False


class _Uncork:
    """The app's body, sending what the cork held back once gunicorn has written it all."""

    def __init__(self, body: Iterable[bytes], sock: socket.socket) -> None:
        self.body, self.sock = body, sock

    def __iter__(self) -> Any:
        return iter(self.body)

    def close(self) -> None:
        _cork(self.sock, False)
        close = getattr(self.body, "close", None)
        if close is not None:
            close()
