"""Finding where a request ends as its bytes arrive (scoring/framing.py), byte by byte too."""
from __future__ import annotations

import pytest

from scoring.framing import RequestBuffer

HEAD = b"POST /score HTTP/1.1\r\nHost: x\r\n"


def _fed(*pieces: bytes, max_body: int = 1000, max_head: int = 8192) -> RequestBuffer:
    buffer = RequestBuffer(max_body, max_head)
    for piece in pieces:
        buffer.add(piece)
    return buffer


def _byte_by_byte(data: bytes, **limits: int) -> list[RequestBuffer]:
    """The buffer after each byte (a fresh one per step would hide state bugs: one buffer)."""
    buffer, states = RequestBuffer(limits.get("max_body", 1000), limits.get("max_head", 8192)), []
    for i in range(len(data)):
        buffer.add(data[i:i + 1])
        states.append((buffer.ready, buffer.end))
    return states


@pytest.mark.parametrize("request_bytes", [
    pytest.param(HEAD + b"Content-Length: 5\r\n\r\nhello", id="content-length"),
    pytest.param(HEAD + b"\r\n", id="no-body"),
    pytest.param(HEAD + b"Content-Length: 0\r\n\r\n", id="empty-body"),
    pytest.param(HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n",
                 id="chunked"),
    pytest.param(HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
                 id="chunked-with-trailers"),
])
def test_ready_exactly_when_the_last_byte_arrives(request_bytes: bytes) -> None:
    states = _byte_by_byte(request_bytes)
    assert [ready for ready, _ in states] == [False] * (len(request_bytes) - 1) + [True]
    assert states[-1][1] == len(request_bytes)


def test_pipelined_bytes_stay_after_the_request() -> None:
    first = HEAD + b"Content-Length: 2\r\n\r\nhi"
    buffer = _fed(first + b"POST /sc", b"ore HTTP/1.1\r\n")
    assert buffer.ready and buffer.end == len(first)
    assert bytes(buffer.data) == first + b"POST /score HTTP/1.1\r\n"  # the parser keeps the rest


def test_expect_continue_is_answered_here_and_dropped_from_the_head() -> None:
    buffer = _fed(b"POST /score HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert buffer.expects_continue and not buffer.ready
    buffer.add(b"hi")
    assert buffer.ready
    assert bytes(buffer.data) == b"POST /score HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"


@pytest.mark.parametrize("request_bytes", [
    pytest.param(HEAD + b"Content-Length: 5000\r\n\r\n", id="over-the-body-limit"),
    pytest.param(HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n", id="two-lengths"),
    pytest.param(HEAD + b"Content-Length: -1\r\n\r\n", id="negative-length"),
    pytest.param(HEAD + b"Transfer-Encoding: gzip\r\n\r\n", id="not-chunked-last"),
    pytest.param(HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", id="both-framings"),
    pytest.param(HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", id="bad-chunk-size"),
    pytest.param(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 5000, id="endless-chunk-line"),
    pytest.param(b"POST /score HTTP/1.1\nHost: x\n", id="bare-lf"),
])
def test_a_request_sure_to_be_refused_is_handed_over_without_the_rest(request_bytes: bytes) -> None:
    buffer = _fed(request_bytes)
    assert buffer.ready and buffer.end < 0 and buffer.hand_over


def test_a_chunked_body_over_the_limit_goes_once_one_byte_too_many_is_there() -> None:
    # The app reads max_body + 1 bytes and answers 413: those bytes must be there, no more needed.
    buffer = _fed(HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"6\r\nabcdef\r\n", b"ffff\r\n", b"abcd",
                  max_body=10)
    assert not buffer.ready
    buffer.add(b"e")
    assert buffer.ready and buffer.hand_over


def test_a_head_over_the_limit_is_flagged() -> None:
    buffer = _fed(HEAD + b"X-Big: " + b"a" * 100, max_head=64)
    assert buffer.head_too_large and not buffer.ready


@pytest.mark.parametrize("pieces, missing", [
    pytest.param((HEAD,), f"head (headers) is incomplete after {len(HEAD)} bytes", id="head"),
    pytest.param((HEAD + b"Content-Length: 10\r\n\r\nabc",), "3 of the 10 body bytes", id="length"),
    pytest.param((HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",),
                 "no last chunk after 2 bytes", id="chunked"),
])
def test_what_is_missing_is_said(pieces: tuple[bytes, ...], missing: str) -> None:
    assert missing in _fed(*pieces).missing()


def test_a_bare_lf_is_caught_as_it_arrives_byte_by_byte() -> None:
    request = b"POST /score HTTP/1.1\r\nHost: x\nA: b\r\n\r\n"
    states = _byte_by_byte(request)
    first_ready = [ready for ready, _ in states].index(True)
    assert request[first_ready:first_ready + 1] == b"\n" and request[first_ready - 1:first_ready] == b"x"
