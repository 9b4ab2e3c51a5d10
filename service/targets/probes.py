"""What a container test sends to a running scoring container, over plain HTTP on 127.0.0.1.

Every function takes the container's base URL parts (host, port) and answers with plain data:
the examples the server documents, the answers to a batch of rows, the fixed bad-input set with
what each got back, and latency percentiles at a number of kept-alive connections.
"""
from __future__ import annotations

import http.client
import json
import math
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
TIMEOUT_S = 30.0
# scoring/settings.py's MAX_REQUEST_BYTES default; the image does not change it.
MAX_REQUEST_BYTES = 100 * 1024 * 1024
TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/', "  File \"")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, body text, and the body as JSON (None when it is not JSON)."""

    status: int
    text: str
    json: Any


def request(port: int, method: str, path: str, body: bytes | None = None,
            content_type: str = "application/json", conn: http.client.HTTPConnection | None = None,
            timeout: float = TIMEOUT_S) -> Answer:
    """One request (on `conn` when given, kept alive); the answer read whole."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Content-Type": content_type} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
    finally:
        if own:
            conn.close()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return Answer(resp.status, text, parsed)


def is_healthy(port: int) -> bool:
    """GET / answers Healthy (the inference server's liveness route)."""
    try:
        answer = request(port, "GET", "/", timeout=2.0)
    except (OSError, http.client.HTTPException):
        return False
    return answer.status == 200 and answer.text.strip() == "Healthy"


def swagger_example(port: int) -> dict | None:
    """The input example of GET /swagger.json (v2 or v3 layout), or None."""
    answer = request(port, "GET", "/swagger.json")
    doc = answer.json if answer.status == 200 and isinstance(answer.json, dict) else {}
    schemas = doc.get("definitions") or (doc.get("components") or {}).get("schemas") or {}
    example = (schemas.get("ServiceInput") or {}).get("example")
    return example if isinstance(example, dict) and example else None


def rows_key(example: dict | None) -> str:
    """The body key that carries rows: the example's first list of rows, else Azure's "data"."""
    for key, value in (example or {}).items():
        if isinstance(value, list) and value and isinstance(value[0], (list, dict)):
            return key
    return "data"


def body_for(rows: list, example: dict | None, **extra: Any) -> bytes:
    """A request body: the example's other keys kept, its rows replaced by `rows`."""
    body = {**(example or {}), **extra, rows_key(example): rows}
    return json.dumps(body).encode()


def predictions(answer: Answer, count: int, method: str = "predict") -> list | None:
    """The per-row answers in a 200 body: a list, or a dict's list (no-code: {"predict": [...]})."""
    value = answer.json
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list) and len(v) == count]
        value = value.get(method) if isinstance(value.get(method), list) else (
            lists[0] if len(lists) == 1 else None)
    return value if isinstance(value, list) and len(value) == count else None


def same(expected: Any, got: Any, tolerance: float) -> bool:
    """Labels (ints, strings, bools) exactly; floats within |a-b| <= tol*1e-3 + tol*|b|."""
    if isinstance(expected, list) or isinstance(got, list):
        return (isinstance(expected, list) and isinstance(got, list)
                and len(expected) == len(got)
                and all(same(e, g, tolerance) for e, g in zip(expected, got)))
    if isinstance(expected, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return math.isclose(got, expected, rel_tol=tolerance, abs_tol=tolerance * 1e-3)
    return type(expected) is type(got) and expected == got


# -- the fixed bad-input set -----------------------------------------------------------------

def bad_inputs(width: int, example: dict | None) -> list[tuple[str, bytes]]:
    """(name, body) of each bad request; the over-limit body is sent separately (never built)."""
    key = rows_key(example)
    nan_row = ", ".join(["NaN"] + ["1.0"] * (width - 1))
    return [
        ("wrong width", body_for([[1.0] * (width + 1)], example)),
        ("wrong type", body_for([["a"] * width], example)),
        ("NaN", f'{{"{key}": [[{nan_row}]]}}'.encode()),
        ("empty", b""),
        ("malformed JSON", f'{{"{key}": [[1.0, 2.0'.encode()),
    ]


def over_limit(port: int, limit: int = MAX_REQUEST_BYTES) -> Answer:
    """A POST announcing limit+1 bytes, of which only the first 64 KiB are sent."""
    with socket.create_connection((HOST, port), timeout=TIMEOUT_S) as sock:
        head = (f"POST /score HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json"
                f"\r\nContent-Length: {limit + 1}\r\n\r\n").encode()
        try:
            sock.sendall(head + b"[" * 65536)
        except OSError:
            pass  # the server may answer and close before it takes all of it
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head_text, _, body = data.decode("utf-8", "replace").partition("\r\n\r\n")
    try:
        status = int(head_text.split(" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return Answer(status, body, parsed)


def _expected_length(data: bytes) -> int:
    head, sep, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + len(sep) + int(value.strip() or 0)
    return len(data)


def judge_bad(name: str, answer: Answer) -> dict:
    """A bad input passes when it got a 4xx whose JSON carries a message and no traceback."""
    body = answer.json if isinstance(answer.json, dict) else {}
    message = body.get("message") or (body.get("error") or {}).get("message")
    reason = None
    if not 400 <= answer.status < 500:
        reason = f"answered {answer.status}, not a 4xx"
    elif not isinstance(message, str) or not message.strip():
        reason = "the answer has no JSON message"
    elif any(mark in answer.text for mark in TRACEBACK_MARKS):
        reason = "the answer carries a traceback"
    return {"name": name, "status": answer.status, "message": message,
            "passed": reason is None, "reason": reason}


def send_bad_inputs(port: int, width: int, example: dict | None) -> list[dict]:
    """Every bad input, judged."""
    results = []
    for name, body in bad_inputs(width, example):
        try:
            answer = request(port, "POST", "/score", body)
        except (OSError, http.client.HTTPException) as err:
            answer = Answer(0, f"no answer: {err}", None)
        results.append(judge_bad(name, answer))
    try:
        answer = over_limit(port)
    except OSError as err:
        answer = Answer(0, f"no answer: {err}", None)
    results.append(judge_bad("body over the limit", answer))
    return results


# -- latency -------------------------------------------------------------------------------------

def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def latency(port: int, body: bytes, requests: int, connections: int) -> dict:
    """p50/p99 (ms) of `requests` POST /score spread over `connections` kept-alive connections."""
    times: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    share = [requests // connections + (1 if i < requests % connections else 0)
             for i in range(connections)]

    def client(count: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT_S)
        mine, bad = [], []
        try:
            for _ in range(count):
                started = time.perf_counter()
                try:
                    answer = request(port, "POST", "/score", body, conn=conn)
                except (OSError, http.client.HTTPException):
                    bad.append(0)  # no answer: counted, not timed
                    conn.close()
                    continue
                mine.append((time.perf_counter() - started) * 1000)
                if answer.status != 200:
                    bad.append(answer.status)
        finally:
            conn.close()
            with lock:
                times.extend(mine)
                failures.extend(bad)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in share if n]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if not times:
        return {"requests": requests, "p50_ms": None, "p99_ms": None, "errors": len(failures)}
    return {"requests": requests, "p50_ms": round(_percentile(times, 50), 3),
            "p99_ms": round(_percentile(times, 99), 3), "errors": len(failures)}
