"""Slow and stalled clients against the keepalive worker: a request is read whole in the event loop
before it runs, so a slow client waits in the poller and never holds the worker."""
from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path
from typing import Callable, Iterator

import requests

from scoring import NOCODE_ENTRY_SCRIPT
from tests.polling import wait_for
from tests.scoring.conftest import (IRIS_ROWS, Server, connect, listeners, read_until_closed,
                                    server_end)

SLOW_CLIENTS = 5
NORMAL_REQUESTS = 1000
# Far above what a request takes here (~1-10 ms); far below what waiting behind a slow client
# costs (its request never ends during the test: the client sends its next byte only once the
# request in flight has been answered).
GENEROUS_S = 2.0
BODY = json.dumps({"data": IRIS_ROWS[:1]}).encode()
SLOW_HEAD = (b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             b"Content-Length: 10000\r\n\r\n")

# run("<n>") answers a JSON string of n characters: a response far larger than the socket buffers.
BIG_ANSWER = """
def init():
    pass
def run(data):
    return "x" * int(data)
"""


def _json_error(answer: bytes, status: int) -> dict:
    """The worker's own answers: the status, Connection: close, the server's JSON error body."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:300]
    assert b"connection: close" in head.lower() and b"application/json" in head.lower(), head
    error = json.loads(body)
    assert set(error) == {"message", "request_id"} and error["request_id"], error
    return error


class SlowClient:
    """One connection sending its request a byte at a time, when told to: the head itself, or
    the head at once and then the body (announced as 10,000 bytes)."""

    def __init__(self, server: Server, slow_part: str) -> None:
        self.sock = connect(server)
        if slow_part == "body":
            self.sock.sendall(SLOW_HEAD)
            self.rest = b"{" + b" " * 9999
        else:
            self.rest = SLOW_HEAD
        self.next_byte()

    def next_byte(self) -> None:
        self.sock.sendall(self.rest[:1])
        self.rest = self.rest[1:]

    def answered(self) -> bool:
        """Whether the server sent anything back or closed the connection."""
        self.sock.setblocking(False)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) is not None
        except BlockingIOError:
            return False
        finally:
            self.sock.setblocking(True)


def _timed_requests(server: Server, count: int, between: Callable[[int], None]) -> Iterator[float]:
    """`count` POSTs over one kept-alive connection, each checked, yielding its seconds."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for index in range(count):
            between(index)
            started = time.perf_counter()
            conn.request("POST", "/score", body=BODY, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            assert response.status == 200 and json.loads(payload) == {"predict": [0]}, payload
            yield elapsed
    finally:
        conn.close()


def test_slow_clients_hold_no_worker(start_server: Callable[..., Server], iris_model_dir: Path) -> None:
    # One worker, as a default deployment runs; slow requests are given all the time they want.
    server = start_server(NOCODE_ENTRY_SCRIPT, iris_model_dir, env={"AMLOCAL_CLIENT_TIMEOUT": "600"}).wait_ready()
    slow = [SlowClient(server, "head" if i % 2 else "body") for i in range(SLOW_CLIENTS)]
    try:
        # The worker has read what each slow client sent so far: they are all mid-request.
        wait_for(lambda: all(server_end(server.port, c.sock) == (True, 0) for c in slow), timeout=30,
                 message="the server reading every slow client's first bytes")

        def trickle(index: int) -> None:  # each slow client sends a byte every 20 requests
            if index % 20 == 0:
                for client in slow:
                    client.next_byte()

        seconds = sorted(_timed_requests(server, NORMAL_REQUESTS, trickle))
        # All answered, and none waited behind a slow client (which would have been forever).
        assert len(seconds) == NORMAL_REQUESTS
        p50, p99 = seconds[NORMAL_REQUESTS // 2] * 1000, seconds[int(NORMAL_REQUESTS * 0.99) - 1] * 1000
        assert seconds[-1] < GENEROUS_S, f"slowest {seconds[-1]:.3f} s; p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        # The slow clients were held open all along, neither answered nor dropped.
        assert all(server_end(server.port, c.sock) == (True, 0) and not c.answered() for c in slow)
    finally:
        for client in slow:
            client.sock.close()


def test_a_stalled_request_is_answered_408(start_server: Callable[..., Server], iris_model_dir: Path) -> None:
    server = start_server(NOCODE_ENTRY_SCRIPT, iris_model_dir, env={"AMLOCAL_CLIENT_TIMEOUT": "1"}).wait_ready()
    with connect(server) as stalled:
        # Accepted while it had sent nothing (an idle connection: kept for the keep-alive time),
        # then it starts a request: the request's own deadline runs from its first byte.
        wait_for(lambda: listeners(server.port) == [0] and server_end(server.port, stalled) == (True, 0),
                 timeout=30, message="the idle connection accepted")
        stalled.sendall(b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and nothing more
        # The one worker is not stuck reading it: others are served meanwhile.
        response = requests.post(server.url + "/score", json={"data": IRIS_ROWS}, timeout=30)
        assert response.json() == {"predict": [0, 2]}
        head_error = _json_error(read_until_closed(stalled), 408)
    with connect(server) as stalled_body:
        stalled_body.sendall(SLOW_HEAD + b"{")
        body_error = _json_error(read_until_closed(stalled_body), 408)
    assert "within 1 s (AMLOCAL_CLIENT_TIMEOUT)" in head_error["message"]
    assert "head (headers) is incomplete" in head_error["message"]
    assert "1 of the 10000 body bytes" in body_error["message"]
    assert "Traceback" not in server.log


def test_a_body_cut_short_is_answered_400_at_once(start_server: Callable[..., Server],
                                                  iris_model_dir: Path) -> None:
    # The client timeout is far away: an answer now is for the ended body, not a timeout.
    server = start_server(NOCODE_ENTRY_SCRIPT, iris_model_dir, env={"AMLOCAL_CLIENT_TIMEOUT": "600"}).wait_ready()
    with connect(server) as client:
        client.sendall(SLOW_HEAD + b'{"data": [[')
        client.shutdown(socket.SHUT_WR)  # the client ends its side: no more of the body comes
        error = _json_error(read_until_closed(client), 400)
    assert error["message"] == ("The request ended before all of it arrived: 11 of the 10000 body "
                                "bytes announced by Content-Length arrived.")
    assert requests.post(server.url + "/score", json={"data": IRIS_ROWS}, timeout=30).status_code == 200


def test_expect_100_continue_is_answered_once(start_server: Callable[..., Server], iris_model_dir: Path) -> None:
    server = start_server(NOCODE_ENTRY_SCRIPT, iris_model_dir).wait_ready()
    body = json.dumps({"data": IRIS_ROWS}).encode()
    with connect(server) as client:
        client.sendall(b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       b"Expect: 100-continue\r\nConnection: close\r\n"
                       + f"Content-Length: {len(body)}\r\n\r\n".encode())
        assert client.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body is sent
        client.sendall(body)
        answer = read_until_closed(client)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"100 Continue") == 0, answer[:300]
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"predict": [0, 2]}


def test_a_chunked_request_is_read_whole(start_server: Callable[..., Server], iris_model_dir: Path) -> None:
    server = start_server(NOCODE_ENTRY_SCRIPT, iris_model_dir).wait_ready()
    body = json.dumps({"data": IRIS_ROWS}).encode()
    pieces = (body[i:i + 7] for i in range(0, len(body), 7))  # a generator: sent chunked
    response = requests.post(server.url + "/score", data=pieces, timeout=30,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json() == {"predict": [0, 2]}


def test_a_client_that_does_not_take_its_response_is_dropped(
        start_server: Callable[..., Server], write_script: Callable[[str, str], Path]) -> None:
    server = start_server(write_script("score.py", BIG_ANSWER), env={"AMLOCAL_CLIENT_TIMEOUT": "1"}).wait_ready()
    with connect(server) as reader:
        size = str(64 * 1024 * 1024)  # far more than the kernel buffers between us hold
        reader.sendall(f"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: {len(size)}\r\n\r\n{size}".encode())
        # and never reads: after a second in all the worker drops it and serves the others
        wait_for(lambda: "did not take its response within 1 s" in server.log, timeout=60,
                 message="the non-reading client dropped")
        assert requests.post(server.url + "/score", data="3", timeout=30).json() == "xxx"
