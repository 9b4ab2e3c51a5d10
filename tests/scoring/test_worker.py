"""The keepalive worker (the default WORKER_CLASS): kept-alive connections, round robin between
connections, and a graceful stop that hands the port over at once (slow and stalled clients:
test_slow_clients.py)."""
from __future__ import annotations

import http.client
import json
import socket
import sys
from pathlib import Path
from typing import Callable

import requests

from scoring import NOCODE_ENTRY_SCRIPT
from tests.polling import wait_for
from tests.scoring.conftest import (IRIS_ROWS, Gate, Server, connect, listeners,
                                    read_until_closed, server_end)

# Writes each call's input to ORDER_LOG as run() is called; "gate" first waits at the test's gate.
ECHO_IN_ORDER = """
import os
def init():
    pass
def run(data):
    if data == "gate":
        with open(os.environ["GATE_FIFO"]) as gate:
            gate.read()
    with open(os.environ["ORDER_LOG"], "a") as log:
        log.write(data + "\\n")
    return data
"""


def _raw_request(body: str, length: int | None = None, content_type: str = "text/plain") -> bytes:
    size = len(body.encode()) if length is None else length
    return (f"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {size}\r\n\r\n{body}").encode()


def test_one_connection_serves_many_requests(start_server: Callable[..., Server], iris_model_dir: Path) -> None:
    server = start_server(NOCODE_ENTRY_SCRIPT, iris_model_dir).wait_ready()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.connect()
    first_socket = conn.sock
    for _ in range(3):
        conn.request("POST", "/score", body=json.dumps({"data": IRIS_ROWS}),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read()) == {"predict": [0, 2]}
        assert response.getheader("Connection", "").lower() == "keep-alive"
        # http.client drops its socket when the server announces a close: the same one means reused.
        assert conn.sock is first_socket
    conn.close()


def _data_segments_received(sock: socket.socket) -> int:
    """tcpi_data_segs_in of Linux's struct tcp_info: segments that carried data to this socket."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 160)
    return int.from_bytes(info[152:156], sys.byteorder)


def test_a_response_is_one_segment(start_server: Callable[..., Server], iris_model_dir: Path) -> None:
    server = start_server(NOCODE_ENTRY_SCRIPT, iris_model_dir).wait_ready()
    request = _raw_request(json.dumps({"data": IRIS_ROWS}), content_type="application/json")
    with connect(server) as sock:
        for answered in (1, 2):
            sock.sendall(request)
            received = b""
            while not received.endswith(b'{"predict": [0, 2]}'):
                chunk = sock.recv(65536)
                assert chunk, f"closed after {received!r}"
                received += chunk
            # gunicorn writes head and body separately; corked, they leave as one segment.
            assert _data_segments_received(sock) == answered


def test_connections_take_turns(start_server: Callable[..., Server], write_script: Callable, gate: Gate,
                                tmp_path: Path) -> None:
    order_log = tmp_path / "order.log"
    server = start_server(write_script("score.py", ECHO_IN_ORDER),
                          env={"ORDER_LOG": str(order_log), **gate.env}).wait_ready()
    held = connect(server)
    connections = [held]
    try:
        held.sendall(_raw_request("gate"))
        gate.hold()  # the one worker is inside run("gate"): it reads no socket until released
        greedy, other = connect(server), connect(server)
        connections += [greedy, other]
        pipelined, single = b"".join(_raw_request(f"greedy-{n}") for n in range(4)), _raw_request("other")
        greedy.sendall(pipelined)
        other.sendall(single)
        # So when the worker looks, greedy's four requests and other's one are all there, whatever
        # the machine's load: greedy's came first, and all at once.
        wait_for(lambda: (server_end(server.port, greedy), server_end(server.port, other))
                 == ((True, len(pipelined)), (True, len(single))), timeout=30,
                 message="both connections' requests waiting at the server")
        gate.release()
        calls = wait_for(lambda: (lines := order_log.read_text().split()) and len(lines) == 6 and lines,
                         timeout=30, message="six run() calls")
    finally:
        for connection in connections:
            connection.close()
    assert calls[:2] == ["gate", "greedy-0"]
    assert [c for c in calls if c.startswith("greedy")] == [f"greedy-{n}" for n in range(4)]
    # One request per connection per turn: other's request does not wait behind all four of
    # greedy's. (It comes after greedy-1, not greedy-0: a pass accepts one new connection.)
    assert calls.index("other") <= 3, calls


def test_refused_body_closes_the_connection(start_server: Callable[..., Server], iris_model_dir: Path) -> None:
    server = start_server(NOCODE_ENTRY_SCRIPT, iris_model_dir, env={"MAX_REQUEST_BYTES": "1000"}).wait_ready()
    with connect(server) as sock:
        sock.sendall(_raw_request("x" * 100, length=5000))  # 4,900 bytes never sent
        answer = read_until_closed(sock)
    head = answer.split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 413") and b"connection: close" in head


def test_stopping_generation_hands_the_port_over_at_once(start_server: Callable[..., Server],
                                                         iris_model_dir: Path) -> None:
    def generation(port: str) -> Server:
        return start_server(NOCODE_ENTRY_SCRIPT, command=[
            sys.executable, "-m", "scoring", "--entry_script", NOCODE_ENTRY_SCRIPT, "--model_dir",
            str(iris_model_dir), "--port", port, "--reuse_port"])

    old = generation("{port}").wait_ready()
    # A client of the old generation that has connected but not sent its request yet: the old
    # worker accepts it and keeps it (gunicorn gives such a connection until its graceful timeout).
    waiting = connect(old)
    wait_for(lambda: server_end(old.port, waiting) == (True, 0), timeout=30, message="the connection made")
    wait_for(lambda: listeners(old.port) == [0], timeout=30, message="the old worker accepting it")
    new = generation(str(old.port))
    wait_for(lambda: "ready for serving traffic" in new.log and len(listeners(old.port)) == 2, timeout=60,
             message="the new generation listening beside the old one")

    old.process.terminate()
    # The old generation's listener goes at once, while it still has a connection to serve: new
    # connections reach the new generation meanwhile instead of queueing at the stopping one.
    wait_for(lambda: len(listeners(old.port)) == 1, timeout=30, message="the old generation's listener closed")
    with waiting:
        waiting.sendall(_raw_request(json.dumps({"data": IRIS_ROWS}), content_type="application/json"))
        head, _, body = read_until_closed(waiting).partition(b"\r\n\r\n")
    assert head.lower().startswith(b"http/1.1 200") and b"connection: close" in head.lower(), head
    assert json.loads(body) == {"predict": [0, 2]}
    for _ in range(10):
        response = requests.post(old.url + "/score", json={"data": IRIS_ROWS}, timeout=10)  # the shared port
        assert response.json() == {"predict": [0, 2]}
    assert old.wait_exit(timeout=30) == 0


def test_worker_class_names(monkeypatch) -> None:
    from scoring import server, worker
    from scoring.settings import Settings
    monkeypatch.setattr(worker.KeepAliveWorker, "client_timeout_s", worker.KeepAliveWorker.client_timeout_s)
    assert server.worker_class(Settings(client_timeout=3)) == "scoring.worker.KeepAliveWorker"
    assert worker.KeepAliveWorker.client_timeout_s == 3
    assert server.worker_class(Settings(worker_class="gthread")) == "gthread"
    # A custom environment may pin a gunicorn whose gthread lacks what the worker builds on.
    monkeypatch.setattr(worker.gunicorn, "version_info", (26, 1, 0))
    assert not worker.supported()
    assert server.worker_class(Settings()) == "sync"
