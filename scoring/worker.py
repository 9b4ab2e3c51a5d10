"""A gunicorn worker that keeps connections alive, reads each request whole in its event loop, and
runs every request in its main thread.

gunicorn's sync worker (what azmlinfsrv uses) closes the connection after each response, so a
client pays a TCP handshake per request. Its gthread worker keeps connections alive but hands each
request to a pool thread and the result back to the main thread through a pipe: two thread
switches and a GIL handoff per request, which cost more than the handshake (bench/README.md).
Scoring is CPU-bound under the GIL, so a thread pool buys nothing. This worker is gthread with
the pool taken out: the same poller, keep-alive, connection limits and graceful stop (and, when
it is the only worker, every waiting connection accepted at once), but each request is served
inline, one per ready connection per pass (round robin, so a connection sending 1000-row bodies
cannot starve the others). Running in the main thread also lets the scoring
deadline use SIGALRM, as under the sync worker. The per-request log lines are written when the
worker is about to wait for the network, after the responses went out.

A request is read in the event loop, without blocking, until all of it is there (head and body:
scoring/framing.py finds its end); only then does gunicorn's parser see it, and the parser reads
nothing but those bytes. So a client that sends slowly waits in the poller while the worker
serves the others. A request must arrive whole within AMLOCAL_CLIENT_TIMEOUT of its first byte,
else it is answered 408; one whose client ends the connection half-way is answered 400 at once.
A response must be taken within the same time, and a connection is closed without waiting for
the client (the lingering read that keeps the last response from being cut off by a reset is a
poller entry too). The scoring server speaks plain HTTP/1.1 (TLS ends in front of it, at ACI).

When a pass holds two or more requests, the app's batcher (scoring/batching.py) first scores the
batchable ones together from their raw bytes; each request is then served and takes its slice of
the answer. A lone request goes straight through: nothing waits for company. A batched request
with a plain head is served without gunicorn's parser (`answer_batched`): the app gets the environ
the batcher built from the head it had parsed anyway, and the response, with the head gunicorn
would write, leaves in one send. Parsing, the environ and gunicorn's response object were half of
what a batched request cost beside its rows (bench/README.md); with a saturated worker that is
half of every request's wait.
"""
from __future__ import annotations

import json
import selectors
import socket
import time
import uuid
from collections import deque
from concurrent.futures import Future
from functools import partial
from typing import Any, Callable, Iterable

import gunicorn
from gunicorn import util
from gunicorn.workers import gthread

from .framing import RequestBuffer
from .logs import hold_info_lines, logger

RECV_BYTES = 1024 * 1024  # one non-blocking read of a connection's request per pass
RECVS_PER_PASS = 4        # then the other connections get their turn
ACCEPTS_PER_EVENT = 64    # connections accepted at once, when the worker is the only one
LINGER_S = 2.0            # a closed connection's last response: time for the client to read it
LINGER_BYTES = 65536      # and how much of what it still sends is read and dropped meanwhile
_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large",
            500: "Internal Server Error"}


def supported() -> bool:
    """Whether the installed gunicorn has the gthread internals this worker builds on (27 and later)."""
    return tuple(gunicorn.version_info[:1]) >= (27,) and hasattr(gthread, "_DEFER")


class _NoPool:
    """Stands where gthread keeps its thread pool: nothing is ever submitted to it."""

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Nothing to stop."""


class _Drained:
    """Where gunicorn's parser would read the socket: it has had every byte of the request
    already, so asking for more is the end of the data (the parser never waits on a client)."""

    @staticmethod
    def recv(size: int) -> bytes:
        return b""

    @staticmethod
    def gettimeout() -> None:
        return None

    @staticmethod
    def settimeout(value: float | None) -> None:
        pass


class _Pending:
    """A connection whose request is still arriving: its bytes so far and its deadline."""

    __slots__ = ("buffer", "deadline", "idle", "continued")

    def __init__(self, buffer: RequestBuffer, deadline: float, idle: bool) -> None:
        self.buffer, self.deadline, self.idle, self.continued = buffer, deadline, idle, False


def error_response(status: int, message: str) -> bytes:
    """A complete `Connection: close` answer with the scoring server's JSON error body."""
    body = json.dumps({"message": message, "request_id": str(uuid.uuid4())}).encode()
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
            f"x-ms-run-function-failed: False\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


class KeepAliveWorker(gthread.ThreadWorker):
    """gthread's event loop and connection handling; requests read whole without blocking, then
    run inline, round robin."""

    # A request must arrive whole (head and body) within this many seconds of its first byte,
    # and each response be taken within it. Set from AMLOCAL_CLIENT_TIMEOUT and MAX_REQUEST_BYTES
    # by the server before the workers fork.
    client_timeout_s: float = 10.0
    max_request_bytes: int = 100 * 1024 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ready: deque[gthread.TConn] = deque()
        self.requests: dict[gthread.TConn, bytes] = {}     # whole requests, waiting their turn
        self.pending: dict[gthread.TConn, _Pending] = {}   # requests still arriving
        self.lingering: dict[gthread.TConn, float] = {}    # closing: until when
        self.next_expiry = float("inf")
        self.flush_log: Callable[[], None] = lambda: None
        self.batcher: Any = None  # scoring/batching.py's Batcher, when the app batches
        self.scoring_app: Callable = lambda environ, start_response: []  # the WSGI app, as loaded

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
        self.batcher = getattr(self.wsgi, "batcher", None)
        self.scoring_app = self.wsgi
        self.wsgi = _response_tweaks(self.wsgi)

    def accept(self, listener: Any) -> None:
        """Accept every connection waiting (at most ACCEPTS_PER_EVENT, within the connection
        limit) when this is the only worker. gthread accepts one per event, so a burst of 16 new
        connections took 16 passes of the loop, the last client's first request waiting behind
        15 passes of scoring, and their requests could not share a batch. With several workers
        sharing the listener, one per event still spreads a burst among them."""
        for _ in range(ACCEPTS_PER_EVENT if self.cfg.workers == 1 else 1):
            if self.nr_conns >= self.worker_connections:
                break
            before = self.nr_conns
            super().accept(listener)
            if self.nr_conns == before:  # nothing waiting any more (or that client gave up)
                break

    # -- reading requests in the event loop -------------------------------------------------

    def _max_head(self) -> int:
        cfg = self.cfg
        return cfg.limit_request_line + cfg.limit_request_fields * (cfg.limit_request_field_size + 2) + 4

    def enqueue_req(self, conn: gthread.TConn) -> None:
        """A connection may have (more of) a request to read: new, kept alive and now readable, or
        with a pipelined request read ahead. Read what is there; queue it once it is whole."""
        state = self.pending.get(conn)
        if state is None:
            now = time.monotonic()
            state = _Pending(RequestBuffer(self.max_request_bytes, self._max_head()),
                             now + self.cfg.keepalive, idle=True)
            if conn.parser is not None:  # bytes the parser read past the previous request
                ahead = conn.parser.unreader.take_buffered()
                if ahead:
                    self._arrived(state, ahead, now)
        self._read(conn, state)

    def _arrived(self, state: _Pending, data: bytes, now: float) -> None:
        if state.idle:  # the request's first bytes: its deadline starts now
            state.idle, state.deadline = False, now + self.client_timeout_s
            self.next_expiry = min(self.next_expiry, state.deadline)
        state.buffer.add(data)

    def _read(self, conn: gthread.TConn, state: _Pending) -> None:
        sock = conn.sock
        try:
            sock.setblocking(False)
            for _ in range(RECVS_PER_PASS):
                if state.buffer.ready:
                    break
                data = sock.recv(RECV_BYTES)
                if not data:
                    return self._ended(conn, state)
                self._arrived(state, data, time.monotonic())
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:  # reset by the client
            return self._drop(conn, None, linger=False)
        buffer = state.buffer
        if buffer.head_too_large:
            return self._drop(conn, error_response(431, "The request's head is larger than the "
                                                        f"{buffer.max_head} bytes allowed."))
        if buffer.ready:
            self._forget(conn)
            self.requests[conn] = bytes(buffer.data)
            self.ready.append(conn)
            return
        if buffer.expects_continue and buffer.head_end >= 0 and not state.continued:
            state.continued = True
            _send_now(sock, b"HTTP/1.1 100 Continue\r\n\r\n")
        if conn not in self.pending:
            self.pending[conn] = state
            self.poller.register(sock, selectors.EVENT_READ, partial(self._on_readable, conn))
            self.next_expiry = min(self.next_expiry, state.deadline)

    def _on_readable(self, conn: gthread.TConn, _sock: Any) -> None:
        self._read(conn, self.pending[conn])

    def _ended(self, conn: gthread.TConn, state: _Pending) -> None:
        """The client closed its side before the request was whole. Everything it sent has been
        read, so the connection closes at once (no unread bytes: no reset cuts the answer)."""
        answer = None
        if not (state.idle and not state.buffer.data):  # else: between requests, a normal end
            logger.info("request from %s ended early: %s; answered 400", _peer(conn),
                        state.buffer.missing())
            answer = error_response(400, "The request ended before all of it arrived: "
                                         f"{state.buffer.missing()}.")
        self._drop(conn, answer, linger=False)

    def _expire(self, now: float) -> None:
        """Drop the connections whose request did not arrive in time, and end lingering closes."""
        if now < self.next_expiry:
            return
        self.next_expiry = float("inf")
        for conn, state in list(self.pending.items()):
            if state.deadline > now:
                self.next_expiry = min(self.next_expiry, state.deadline)
            elif state.idle:
                self._drop(conn, None)  # connected, never sent anything: as a kept-alive one
            else:
                logger.info("request from %s too slow: %s after %g s; answered 408", _peer(conn),
                            state.buffer.missing(), self.client_timeout_s)
                self._drop(conn, error_response(
                    408, f"The request did not arrive within {self.client_timeout_s:g} s "
                         f"(AMLOCAL_CLIENT_TIMEOUT): {state.buffer.missing()}."))
        for conn, until in list(self.lingering.items()):
            if until > now:
                self.next_expiry = min(self.next_expiry, until)
            else:
                self._close_lingering(conn)

    def _forget(self, conn: gthread.TConn) -> None:
        if self.pending.pop(conn, None) is not None:
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass

    def _drop(self, conn: gthread.TConn, answer: bytes | None, linger: bool = True) -> None:
        """Stop serving the connection: send `answer` (if the socket takes it now) and close."""
        self._forget(conn)
        self.nr_conns -= 1
        if answer is not None:
            _send_now(conn.sock, answer)
        if linger:
            self._linger(conn)
        else:
            conn.close()

    # -- closing without waiting for the client --------------------------------------------

    def _linger(self, conn: gthread.TConn) -> None:
        """Close after the client has read the last response: send FIN, then read and drop what
        it still sends until it closes too (at most LINGER_S), so the kernel does not reset the
        connection (and cut off the response) over unread bytes. In the poller, not blocking."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_linger_readable, conn))
        except (OSError, ValueError, KeyError):
            conn.close()
            return
        self.lingering[conn] = until = time.monotonic() + LINGER_S
        self.next_expiry = min(self.next_expiry, until)

    def _on_linger_readable(self, conn: gthread.TConn, _sock: Any) -> None:
        try:
            if len(conn.sock.recv(LINGER_BYTES)) == 0:
                self._close_lingering(conn)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close_lingering(conn)

    def _close_lingering(self, conn: gthread.TConn) -> None:
        self.lingering.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        conn.close()

    # -- serving ---------------------------------------------------------------------------

    @staticmethod
    def _init(conn: gthread.TConn) -> None:
        if not conn.initialized:
            conn.init()
            conn.parser.unreader.sock = _Drained()

    def handle(self, conn: gthread.TConn) -> Any:
        request = self.requests.pop(conn)
        self._init(conn)
        conn.parser.unreader.unread(request)
        conn.data_ready = True  # gthread would wait for the socket otherwise
        return super().handle(conn)

    def handle_request(self, req: Any, conn: gthread.TConn) -> bool:
        # sendall() with a timeout has that long in all, not per send: a client that stops
        # reading its response is dropped after client_timeout_s.
        conn.sock.settimeout(self.client_timeout_s)
        try:
            return super().handle_request(req, conn)
        except TimeoutError:
            logger.info("client %s did not take its response within %g s: dropped", _peer(conn),
                        self.client_timeout_s)
            return False

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if not self.ready:
            self.flush_log()  # the lines of the requests just answered, before waiting for more
        now = time.monotonic()
        self._expire(now)
        wait = 0 if self.ready else max(0.0, min(timeout, self.next_expiry - now))
        super().wait_for_and_dispatch_events(wait)
        # One request per ready connection per pass; a connection with a pipelined request
        # already buffered goes back to the end of the queue. With two or more, the batcher
        # first scores the batchable ones together; each is then served with its own slice.
        batcher = self.batcher if len(self.ready) > 1 else None
        if batcher is not None:
            try:
                batcher.gather([self.requests[conn] for conn in self.ready])
            except Exception:  # a defect here must not cost the requests: they run alone
                logger.exception("batching failed; the pass's requests run alone")
                batcher.clear()
        try:
            for _ in range(len(self.ready)):
                conn = self.ready.popleft()
                keep = self.answer_batched(conn) if batcher is not None else None
                if keep is None:
                    keep = self.handle(conn)  # handle() answers every Exception itself
                if keep:
                    done: Future = Future()
                    done.set_result(keep)
                    self.finish_request(conn, done)
                else:
                    self.nr_conns -= 1
                    self._linger(conn)
        finally:
            if batcher is not None:
                batcher.clear()

    def answer_batched(self, conn: gthread.TConn) -> bool | None:
        """Serve a request whose answer the batcher holds without gunicorn's parser: the app gets
        the environ the batcher built from the head it parsed, and the response leaves in one
        send, with the head gunicorn would have written. Whether to keep the connection; None:
        serve it the usual way (the head is not plain, or gunicorn would close the connection)."""
        if not (self.alive and self.cfg.keepalive and self.nr + 1 < self.max_requests
                and len(self.keepalived_conns) < self.max_keepalived):
            return None
        environ = self.batcher.environ(self.requests[conn])
        if environ is None:
            return None
        del self.requests[conn]
        self._init(conn)
        self.nr += 1
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started[:] = [status, headers]

        try:
            body = b"".join(self.scoring_app(environ, start_response))
            status, headers = started
            head, close = response_head(status, headers, len(body))
            data = head + body
        except Exception:  # a defect: the app answers its own errors
            logger.exception("request from %s: unexpected server error", _peer(conn))
            data, close = error_response(500, "An unexpected error occurred."), True
        conn.sock.settimeout(self.client_timeout_s)
        try:
            conn.sock.sendall(data)
        except TimeoutError:
            logger.info("client %s did not take its response within %g s: dropped", _peer(conn),
                        self.client_timeout_s)
            return False
        except OSError:  # the client went away
            return False
        return not close

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            # Stopping: release the listeners now, not after the kept-alive connections linger,
            # so that with SO_REUSEPORT new connections go to the next generation straight away
            # (and those queued here migrate to it, with net.ipv4.tcp_migrate_req=1).
            for listener in self.sockets:
                listener.close()


def _send_now(sock: socket.socket, data: bytes) -> None:
    """Send what the socket takes without waiting (a small answer fits its buffer)."""
    try:
        sock.setblocking(False)
        sock.send(data)
    except OSError:
        pass


def response_head(status: str, headers: list[tuple[str, str]], length: int) -> tuple[bytes, bool]:
    """The head gunicorn writes for a WSGI app's whole response on a kept-alive HTTP/1.1
    connection (its Server, Date and Connection fields, then the app's, hop-by-hop ones dropped),
    and whether the app asked to close (`Connection: close`)."""
    close = any(name.lower() == "connection" and value.lower() == "close" for name, value in headers)
    fields = [(name, value.strip(" \t")) for name, value in headers if not util.is_hoppish(name)]
    if not any(name.lower() == "content-length" for name, _ in fields):
        fields.append(("Content-Length", str(length)))
    lines = [f"HTTP/1.1 {status}\r\n", f"Server: {gunicorn.SERVER}\r\n", f"Date: {util.http_date()}\r\n",
             f"Connection: {'close' if close else 'keep-alive'}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in fields]
    lines.append("\r\n")
    return "".join(lines).encode("latin-1"), close


def _peer(conn: gthread.TConn) -> str:
    client = conn.client
    return f"{client[0]}:{client[1]}" if isinstance(client, tuple) and len(client) >= 2 else str(client)


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
