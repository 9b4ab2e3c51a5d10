"""Log followers (`GET /runs/<id>/logs?follow=true`) hold no worker thread: 100 of them connected
at once, and the service still answers everything else at once; every one of them is streamed to
the run's end. (The latency itself is measured by bench/control/followers.py.)"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import requests

from tests.conftest import TOKEN
from tests.polling import wait_for

FOLLOWERS = 100
SLOW_ANSWER_S = 2.0  # generous: the bench measures milliseconds; a held thread would be minutes
SCRIPT = "import time\nprint('started', flush=True)\ntime.sleep(600)\n"


@dataclass
class Follower:
    sock: socket.socket
    rest: bytes  # what came after the headers


def open_follower(port: int, run_id: str) -> Follower:
    """A raw connection following the run's log, past its status line and headers."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET /runs/{run_id}/logs?follow=true HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        assert data, "the service closed a follower before answering"
        head += data
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    assert b"transfer-encoding: chunked" in head.lower(), head[:500]
    return Follower(sock, head.partition(b"\r\n\r\n")[2])


def read_to_end(follower: Follower) -> bytes:
    """What the follower got until the service ended the chunked stream."""
    data = follower.rest
    while not data.endswith(b"0\r\n\r\n"):
        more = follower.sock.recv(65536)
        assert more, "the stream was cut before its last chunk"
        data += more
    return data


def test_health_answers_at_once_while_100_followers_are_connected(service):
    run = service.submit({"train.py": SCRIPT}, "train.py")
    followers = []
    try:
        for _ in range(FOLLOWERS):  # each one answered while the ones before still stream
            followers.append(open_follower(service.port, run["id"]))
        for _ in range(20):
            started = time.monotonic()
            assert requests.get(f"{service.url}/health", timeout=30).json()["status"] == "ok"
            shown = service.http("GET", f"/runs/{run['id']}")
            assert shown.status_code == 200
            assert time.monotonic() - started < SLOW_ANSWER_S
        assert service.http("POST", f"/runs/{run['id']}/cancel").status_code == 202
        ends = [read_to_end(follower) for follower in followers]
    finally:
        for follower in followers:
            follower.sock.close()
    status = wait_for(lambda: (s := service.run(run["id"])["status"]) in ("Canceled",) and s,
                      timeout=60, message="the run to be Canceled")
    assert status == "Canceled" and len(ends) == FOLLOWERS
    log = requests.get(f"{service.url}/runs/{run['id']}/logs",
                       headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).content
    assert all(_unchunk(end) == log for end in ends)


def _unchunk(data: bytes) -> bytes:
    """The body of a chunked transfer."""
    body, rest = b"", data
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return body
        body, rest = body + rest[:size], rest[size + 2:]
