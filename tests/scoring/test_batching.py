"""Adaptive micro-batching (scoring/batching.py): concurrent requests scored in one run() call,
each client answered exactly as alone; errors stay per request. Real servers on 127.0.0.1."""
from __future__ import annotations

import http.client
import json
import logging
import socket
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import NOCODE_ENTRY_SCRIPT
from scoring.batching import Batcher, parse_post, split_result
from scoring.entry import EntryScript
from scoring.logs import logger
from scoring.settings import load_settings
from tests.polling import wait_for
from tests.scoring.conftest import Gate, Server, server_end

# Opts in with AMLOCAL_BATCH_INPUT. "rows" tells how many rows the run() call had, so a test sees
# the batch (a script that honours the marker's promise would not answer that).
OPTED_IN = """
import os
import numpy as np
from inference_schema.schema_decorators import input_schema
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType

AMLOCAL_BATCH_INPUT = "data"

def init():
    pass

@input_schema("data", NumpyParameterType(np.array([[1.0, 2.0]])))
@input_schema("scale", StandardPythonParameterType(1.0))
def run(data, scale=1.0):
    if (data == -1).any():  # hold this call at the test's gate
        with open(os.environ["GATE_FIFO"]) as gate:
            gate.read()
    if (data == 666).any():
        raise RuntimeError("the culprit")
    if (data == 999).any():
        while True:  # until SCORING_TIMEOUT_MS
            pass
    return {"sum": (data.sum(axis=1) * scale).tolist(), "rows": [len(data)] * len(data)}
"""
JSON = "application/json"


KEY = "key-1"  # the opted-in server's scoring key (the forest servers have none)


def raw_post(body: bytes, request_id: str, content_type: str = JSON, extra: str = f"Authorization: Bearer {KEY}\r\n"
             ) -> bytes:
    """One keep-alive POST /score request, as bytes."""
    return (f"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{extra}"
            f"x-request-id: {request_id}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


# What differs between two answers to the same request: when, and how long run() took.
VOLATILE = {"date", "x-ms-run-fn-exec-ms"}


def read_response(sock: socket.socket) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    """(status, header fields in order but the volatile ones, body) of the next response on a
    kept-alive connection."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    fields = tuple((name, value) for name, value in response.getheaders() if name.lower() not in VOLATILE)
    return response.status, fields, response.read()


def content_type(fields: tuple[tuple[str, str], ...]) -> str:
    return dict(fields).get("Content-Type", "")


class Clients:
    """Kept-alive connections to one server: each sends one request, then all are read."""

    def __init__(self, server: Server, count: int) -> None:
        self.server = server
        self.socks = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_response(sock)[0] == 200  # accepted, now idle in the worker's poller
            self.socks.append(sock)

    def exchange(self, requests: list[bytes], before_reading=None) -> list[tuple[int, tuple, bytes]]:
        """Send every request (one per connection), optionally do something, then read them all."""
        for sock, request in zip(self.socks, requests):
            sock.sendall(request)
        if before_reading is not None:
            before_reading(self.socks[:len(requests)], requests)
        return [read_response(sock) for sock in self.socks[:len(requests)]]

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


def batch_calls(server: Server) -> float:
    """How many batched run() calls /metrics counts, over all workers."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    for line in text.splitlines():
        if line.startswith("amlocal_scoring_batch_requests_count"):
            return float(line.split()[-1])
    raise AssertionError(f"no batch histogram in /metrics:\n{text}")


# -- pure parts --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    (raw_post(b'{"data": 1}', "a"), (JSON, b'{"data": 1}')),
    (b"POST /score?x=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", ("", b"{}")),
    (b"POST /score HTTP/1.1\r\nContent-Length: 5\r\n\r\n{}", None),                      # not all there
    (b"POST /score HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", None),
    (b"POST /score HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", None),
    (b"POST /scores HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", None),
    (b"GET /score HTTP/1.1\r\n\r\n", None),
    (b"POST /score HTTP/1.1\r\nContent-Length: 20000\r\n\r\n" + b"x" * 20000, None),   # over the cap
], ids=["json", "query", "short", "chunked", "two-lengths", "other-path", "get", "too-large"])
def test_only_whole_score_posts_are_looked_at(raw: bytes, expected: tuple | None) -> None:
    posted = parse_post(raw, max_body=10000)
    assert (posted and (posted.content_type, posted.body)) == expected


PLAIN = b"POST /score HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"


@pytest.mark.parametrize("raw, plain", [
    (PLAIN + b"\r\n{}", True),
    (PLAIN + b"Connection: keep-alive\r\nx-request-id: \t a b \r\n\r\n{}", True),
    (PLAIN.replace(b"/score", b"/score?verbose=true") + b"\r\n{}", True),
    (PLAIN.replace(b"HTTP/1.1", b"HTTP/1.0") + b"\r\n{}", False),        # gunicorn closes it
    (PLAIN + b"Connection: close\r\n\r\n{}", False),
    (PLAIN + b"Expect: 100-continue\r\n\r\n{}", False),
    (PLAIN + b"X-Forwarded-Proto: https\r\n\r\n{}", False),            # the parser's own fields
    (PLAIN + b"x_request_id: a\r\n\r\n{}", False),                    # gunicorn drops it
    (PLAIN + b"x-request-id: a\r\nX-Request-Id: b\r\n\r\n{}", False),  # twice
    (PLAIN + b"x-request-id: caf\xc3\xa9\r\n\r\n{}", False),           # not ASCII
    (PLAIN + b"x-request-id: a\x01\r\n\r\n{}", False),                 # a control character
    (PLAIN + b"\r\n{}POST /score HTTP/1.1\r\n", False),                 # a pipelined request behind
    (PLAIN.replace(b"Length: 2", b"Length: 02") + b"\r\n{}", False),
    (PLAIN + b"x-a: " + b"b" * 4100 + b"\r\n\r\n{}", False),              # over gunicorn's line limit
    (PLAIN + b"a: b\r\n" * 100 + b"\r\n{}", False),                     # over its 100 fields
], ids=["plain", "keep-alive", "query", "http-1.0", "close", "expect", "forwarded", "underscore",
        "twice", "non-ascii", "control", "pipelined", "leading-zero", "long-line", "many-fields"])
def test_only_plain_heads_may_skip_gunicorns_parser(raw: bytes, plain: bool) -> None:
    posted = parse_post(raw, max_body=10000)
    assert posted is not None and posted.body == b"{}" and posted.plain is plain
    assert posted.fields[0] == (b"Host", b"h")
    if b"x-request-id: \t a b" in raw:
        assert (b"x-request-id", b"a b") in posted.fields


def test_answers_are_cut_by_row_counts() -> None:
    assert split_result([1, 2, 3], [1, 2]) == [[1], [2, 3]]
    assert split_result({"predict": [1, 2, 3], "p": [[0.1], [0.2], [0.3]]}, [2, 1]) == [
        {"predict": [1, 2], "p": [[0.1], [0.2]]}, {"predict": [3], "p": [[0.3]]}]
    assert [part.tolist() for part in split_result(np.arange(3), [2, 1])] == [[0, 1], [2]]
    for not_row_wise in (3, "abc", {"predict": [1, 2, 3], "version": 1}, [1, 2], {}):
        assert split_result(not_row_wise, [1, 2]) is None


@pytest.mark.parametrize("source, why", [
    ("AMLOCAL_BATCH_INPUT = 'data'\ndef init(): pass\ndef run(data): return data\n", "not decorated"),
    (OPTED_IN.replace('BATCH_INPUT = "data"', 'BATCH_INPUT = "scale"'), "not a NumpyParameterType"),
    (OPTED_IN.replace('BATCH_INPUT = "data"', 'BATCH_INPUT = "other"'), "no converted input"),
    (OPTED_IN.replace("def run(data, scale=1.0):", "def run(data, request_headers, scale=1.0):"),
     "request_headers"),
], ids=["undecorated", "not-rows", "unknown", "headers"])
def test_scripts_that_cannot_be_batched_never_are(tmp_path: Path, source: str, why: str) -> None:
    path = tmp_path / "score.py"
    path.write_text(source)
    script = EntryScript(str(path), module_name=f"batching_{tmp_path.name}")
    script.load()
    script.invoke_init()
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        assert Batcher.for_script(script, load_settings({}), lambda n: None) is None
        assert Batcher.for_script(script, load_settings({"AMLOCAL_MAX_BATCH_ROWS": "1"}), print) is None
    finally:
        logger.removeHandler(handler)
    assert len(seen) == 1 and why in seen[0] and seen[0].startswith("Batching off")


def test_no_code_batches_only_methods_whose_rows_are_exact(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A linear model's predict_proba rounds differently for 1 row than for many: not batched."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    features, labels = load_iris(return_X_y=True)
    found = {}
    for name, model in (("linear", LogisticRegression(max_iter=500)),
                        ("forest", RandomForestClassifier(10, random_state=0))):
        (tmp_path / name).mkdir()
        joblib.dump(model.fit(features, labels), tmp_path / name / "model.joblib")
        monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / name))
        script = EntryScript(NOCODE_ENTRY_SCRIPT, module_name=f"nocode_{name}")
        script.load()
        script.invoke_init()
        only = script.marker("AMLOCAL_BATCH_ONLY")["method"]
        found[name] = {method: method in only for method in ("predict", "predict_proba")}
    assert found == {"linear": {"predict": True, "predict_proba": False},
                     "forest": {"predict": True, "predict_proba": True}}


# -- an opted-in score.py, with the worker held so that requests queue up ----------------------

@pytest.fixture(scope="module")
def opted_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Gate]]:
    """One server for the opted-in script, its run() gated, SCORING_TIMEOUT_MS 1 s, a key."""
    folder = tmp_path_factory.mktemp("opted-in")
    (folder / "score.py").write_text(OPTED_IN)
    gate = Gate(folder / "gate")
    server = Server(folder, folder / "score.py", env={**gate.env, "SCORING_TIMEOUT_MS": "1000",
                                                      "AMLOCAL_SCORING_KEYS": KEY})
    try:
        yield server.wait_ready(), gate
    finally:
        gate.release()
        server.stop()


def _queued_then_released(server: Server, gate: Gate, bodies: list[bytes]) -> list[tuple[int, str, dict]]:
    """Hold the worker in run(), send `bodies` on kept-alive connections, wait until the server's
    sockets hold all of them, let the worker go: its next pass has them all ready at once."""
    requests = [raw_post(body, f"r{i}") for i, body in enumerate(bodies)]
    return [(status, content_type(fields), json.loads(body))
            for status, fields, body in _queued_requests_then_released(server, gate, requests)]


def _queued_requests_then_released(server: Server, gate: Gate, requests: list[bytes],
                                   after=lambda socks: None, new_connections: bool = False
                                   ) -> list[tuple[int, tuple, bytes]]:
    """The same with whole requests; `after(socks)` is called once they are answered. With
    `new_connections`, each request comes on a connection opened while the worker is held
    (still waiting in the listener's queue when it is let go)."""
    clients = Clients(server, 1 if new_connections else len(requests) + 1)
    try:
        held = clients.socks[-1]
        held.sendall(raw_post(b'{"data": [[-1, -1]]}', "held"))
        gate.hold()

        def arrived(socks: list[socket.socket], requests: list[bytes]) -> None:
            wait_for(lambda: all(server_end(server.port, sock) == (True, len(request))
                                 for sock, request in zip(socks, requests)),
                     message="every request in the server's socket buffers")
            gate.release()
        if new_connections:
            clients.socks[:0] = [socket.create_connection(("127.0.0.1", server.port), timeout=60)
                                 for _ in requests]
        answers = clients.exchange(requests, arrived)
        assert read_response(held)[0] == 200
        after(clients.socks)
        return answers
    finally:
        clients.close()


def test_a_burst_of_new_connections_is_one_batch(opted_in: tuple[Server, Gate]) -> None:
    """The worker accepts every waiting connection at once: their first requests share a pass
    (gthread alone would accept one per pass, each request a call of its own)."""
    server, gate = opted_in
    before = batch_calls(server)
    requests = [raw_post(b'{"data": [[1, 2]]}', f"new-{i}") for i in range(12)]
    answers = _queued_requests_then_released(server, gate, requests, new_connections=True)
    assert [(status, json.loads(body)) for status, _, body in answers] == [(200, {"sum": [3.0], "rows": [12]})] * 12
    assert batch_calls(server) == before + 1


def _alone(server: Server, request: bytes) -> tuple[int, tuple, bytes]:
    """The answer to one request on a connection of its own: gunicorn parses it, run() sees it alone."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(request)
        return read_response(sock)


def test_batched_answers_keep_keys_ids_and_connection_rules(opted_in: tuple[Server, Gate]) -> None:
    """Answers from a batch have the status and head of answers to the same requests alone, be
    they written by the worker (plain heads) or by gunicorn (Connection: close)."""
    server, gate = opted_in
    body = b'{"data": [[1, 2]]}'
    requests = [raw_post(body, "plain"),
                raw_post(body, "wrong-key", extra="Authorization: Bearer nope\r\n"),
                raw_post(body, "no-key", extra=""),
                raw_post(body, "closing", extra=f"Authorization: Bearer {KEY}\r\nConnection: close\r\n"),
                raw_post(body, "kept", extra=f"Authorization: Bearer {KEY}\r\nConnection: keep-alive\r\n"
                                             "x-ms-client-request-id: client-1\r\nTraceId: t-1\r\n")]
    closed: list[bytes] = []
    before = batch_calls(server)
    answers = _queued_requests_then_released(server, gate, requests,
                                             after=lambda socks: closed.append(socks[3].recv(1)))
    assert batch_calls(server) == before + 1
    assert closed == [b""]  # the server closed the Connection: close one after its answer
    alone = [_alone(server, request) for request in requests]
    assert [status for status, _, _ in answers] == [200, 401, 401, 200, 200]
    for (status, fields, body_), (status_alone, fields_alone, body_alone) in zip(answers, alone):
        assert fields == fields_alone and status == status_alone
        if status == 200:  # one call for the three with the key: the others' rows were not scored
            assert json.loads(body_) == {"sum": [3.0], "rows": [3]}
        else:
            assert body_ == body_alone and b"Missing or invalid key" in body_
    kept = dict(answers[4][1])
    assert (kept["x-ms-client-request-id"], kept["TraceId"], kept["Connection"]) == ("client-1", "t-1", "keep-alive")
    assert dict(answers[3][1])["Connection"] == "close"


def test_queued_requests_are_one_call_and_bad_ones_answer_alone(opted_in: tuple[Server, Gate]) -> None:
    server, gate = opted_in
    before = batch_calls(server)
    bodies = [b'{"data": [[1, 2]]}', b'{"data": [[1, 2], [3, 4]]}', b'{"data": [[1, 2, 3]]}',
              b'{"data": [[5, 6]], "scale": 2}', b'{"data": [[1, 2]]}', b"not json"]
    answers = _queued_then_released(server, gate, bodies)
    batch = [(200, JSON, {"sum": [3.0], "rows": [4]}), (200, JSON, {"sum": [3.0, 7.0], "rows": [4, 4]})]
    assert answers[:2] == batch and answers[4] == batch[0]  # one call: 4 rows, from 3 requests
    assert answers[3] == (200, JSON, {"sum": [22.0], "rows": [1]})  # another scale: alone
    for bad in (answers[2], answers[5]):
        assert bad[0] == 400 and "Traceback" not in json.dumps(bad[2])
    assert answers[2][2]["request_id"] == "r2" and "'data'" in answers[2][2]["message"]
    assert batch_calls(server) == before + 1


@pytest.mark.parametrize("culprit, status, message", [
    (666, 500, "An unexpected error occurred in scoring script"),
    (999, 500, "Scoring timeout after 1000 ms"),
], ids=["raises", "times-out"])
def test_a_failing_batch_runs_alone_so_only_the_culprit_fails(
        opted_in: tuple[Server, Gate], culprit: int, status: int, message: str) -> None:
    server, gate = opted_in
    before = batch_calls(server)
    bodies = [b'{"data": [[1, 2]]}', f'{{"data": [[{culprit}, 0]]}}'.encode(), b'{"data": [[3, 4], [5, 6]]}']
    answers = _queued_then_released(server, gate, bodies)
    assert answers[0] == (200, JSON, {"sum": [3.0], "rows": [1]})
    assert answers[2] == (200, JSON, {"sum": [7.0, 11.0], "rows": [2, 2]})
    assert answers[1][0] == status and message in answers[1][2]["message"]
    assert answers[1][2]["request_id"] == "r1"
    assert batch_calls(server) == before  # the batch call failed: nothing was answered from it
    wait_for(lambda: "A batch of 3 requests failed" in server.log, message="the batch's failure logged")


# -- no-code: random concurrent mixes, batching on and off, byte for byte ----------------------

@pytest.fixture(scope="module")
def forest_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Clients, Clients]]:
    """A 10-tree forest (predict and predict_proba both batched) served twice: batching on with
    2 workers, and off; 12 kept-alive connections to each."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    folder = tmp_path_factory.mktemp("forest")
    features, labels = load_iris(return_X_y=True)
    joblib.dump(RandomForestClassifier(10, random_state=0).fit(features, labels), folder / "model.joblib")
    # WORKER_PRELOAD: the batcher is built once in the master, then forked (and sklearn imported once).
    on = Server(folder, NOCODE_ENTRY_SCRIPT, folder, workers=2, env={"WORKER_PRELOAD": "true"})
    off = Server(folder, NOCODE_ENTRY_SCRIPT, folder, env={"AMLOCAL_MAX_BATCH_ROWS": "1"})
    clients = []
    try:
        on.wait_ready(), off.wait_ready()
        clients = [Clients(on, 12), Clients(off, 12)]
        yield clients[0], clients[1]
    finally:
        for client in clients:
            client.close()
        on.stop()
        off.stop()


ROW = st.lists(st.floats(-20, 20, allow_nan=False, width=32), min_size=4, max_size=4)
VALID = st.fixed_dictionaries({"data": st.lists(ROW, min_size=1, max_size=50)},
                              optional={"method": st.sampled_from(["predict", "predict_proba"])})
INVALID = st.sampled_from([
    b'{"data": [[1, 2, 3]]}', b'{"data": [["a", "b", "c", "d"]]}', b'{"data": [[1, 2, 3, NaN]]}',
    b'{"data": [[1, 2, 3, null]]}', b'{"data": []}', b'{"data": [[1, 2, 3, 4]], "method": "transform"}',
    b'{"data": [[1e39, 2, 3, 4]]}', b"[1, 2]", b"{"])
BODY = st.one_of(VALID.map(lambda body: json.dumps(body).encode()), INVALID)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(BODY, min_size=2, max_size=12))
def test_concurrent_mixes_get_the_bytes_they_get_unbatched(forest_servers: tuple[Clients, Clients],
                                                           bodies: list[bytes]) -> None:
    """Status, head and body alike (but the date and run()'s duration), whether the batched
    answer was written by the worker itself or by gunicorn."""
    batched, alone = forest_servers
    requests = [raw_post(body, f"req-{i}") for i, body in enumerate(bodies)]
    assert batched.exchange(requests) == alone.exchange(requests)


def test_those_mixes_were_batched(forest_servers: tuple[Clients, Clients]) -> None:
    """The property test above can fail: the batched server did batch, the other never did."""
    batched, alone = forest_servers
    assert batch_calls(batched.server) > 0 and batch_calls(alone.server) == 0
