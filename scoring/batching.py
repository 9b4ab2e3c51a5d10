"""Adaptive micro-batching: the rows of concurrent requests scored in one run() call.

The keepalive worker reads every ready connection's request whole, then serves them one by one
in one pass of its loop. When a pass holds two or more requests, `Batcher.gather` looks at their
raw bytes first: each `POST /score` JSON body is parsed and converted as its request would be,
requests that agree on every other parameter are grouped, each group's rows are concatenated and
scored in one run() call, and the answer is split back by row counts. The requests are then served
as usual, and `Batcher.take` hands each one its slice instead of calling run() again. A request
whose head is plain (`Posted.plain`: one gunicorn's parser reads exactly as `parse_post` does)
skips that parser: `Batcher.environ` builds its WSGI environ from the head already parsed here,
the app answers it as any other (keys, request ids, metrics, log line), and the worker writes the
response itself in one send. That halves what a batched request costs beside its rows. So:

- a lone request never waits: nothing is gathered unless the pass already holds others;
- a request that cannot be converted (a 400), or lacks a valid key (a 401), joins no batch: it
  is served alone, as before, and its rows are never scored;
- a batch whose run() raises (or times out) precomputes nothing: each of its requests runs
  alone in its turn, so only the culprit fails, with its own error;
- results are keyed by the exact body bytes the app then reads, so a request is only ever given
  the answer computed from its own body.

What may be batched is declared by the entry script (module-level names, read after init()):
`AMLOCAL_BATCH_INPUT = "data"` names a run() parameter whose inference-schema type converts to a
numpy array or a pandas DataFrame, rows along the first axis, and promises that run() answers
row by row: a list (or a dict of lists) as long as the input. `AMLOCAL_BATCH_ONLY = {"method":
("predict",)}` (optional) batches only requests whose other parameters have those values.
"""
from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .entry import EntryScript
from .errors import ScoringError
from .handling import ScoreRequest, decorated_arguments, is_json
from .logs import logger

INPUT_MARKER = "AMLOCAL_BATCH_INPUT"
ONLY_MARKER = "AMLOCAL_BATCH_ONLY"
HEAD_END = b"\r\n\r\n"


# A head that gunicorn's parser reads exactly as parse_post does: within its default limits
# (request line 4094 bytes, 100 fields of 8190), HTTP/1.1, names plain tokens, values printable,
# no name twice, and none of the fields the parser gives a meaning of its own.
PLAIN_HEAD_BYTES = 4094
PLAIN_FIELDS = 100
_PLAIN_LINES = re.compile(rb"(?:\r\n[A-Za-z0-9-]+:[\x20-\x7e\t]*)*")
_PLAIN_TARGET = re.compile(rb"/score(?:\?[\x21-\x7e]*)?")
_PARSER_FIELDS = frozenset({b"connection", b"expect", b"forwarded", b"keep-alive", b"proxy-connection",
                            b"te", b"trailer", b"transfer-encoding", b"upgrade"})


@dataclass(frozen=True, slots=True)
class Posted:
    """A whole `POST /score` request with a Content-Length, as parse_post read it."""

    target: bytes                          # path and query, as sent
    fields: tuple[tuple[bytes, bytes], ...]  # (name, value) as sent, values stripped of blanks
    content_type: str
    body: bytes
    # Only this request, and a head gunicorn's parser reads the same way (PLAIN_* above): its
    # answer may skip that parser (Batcher.environ).
    plain: bool


def parse_post(raw: bytes, max_body: int) -> Posted | None:
    """A whole `POST /score` request with a Content-Length; None for anything else (those are
    served without batching, so being strict here costs nothing)."""
    head_end = raw.find(HEAD_END)
    if head_end < 0:
        return None
    line_end = raw.find(b"\r\n", 0, head_end)
    request_line = raw[:head_end if line_end < 0 else line_end]
    if not request_line.startswith((b"POST /score ", b"POST /score?")) or not request_line.endswith(
            (b" HTTP/1.1", b" HTTP/1.0")):
        return None
    fields = tuple((name, value.strip(b" \t")) for name, _, value in (
        line.partition(b":") for line in raw[len(request_line) + 2:head_end].split(b"\r\n")) if name or value)
    content_type, length, keys, exact = "", None, [], True
    for name, value in fields:
        key = name.strip().lower()
        keys.append(key)
        if key == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
            exact = exact and value == str(length).encode()
        elif key == b"content-type":
            content_type = value.decode("latin-1")
        elif key == b"transfer-encoding":
            return None
        elif key in _PARSER_FIELDS or key.startswith(b"x-forwarded"):
            exact = exact and key == b"connection" and value.lower() == b"keep-alive"
    if length is None or length > max_body:
        return None
    start = head_end + len(HEAD_END)
    body = raw[start:start + length]
    if len(body) != length:
        return None
    target = request_line[len(b"POST "):-len(b" HTTP/1.1")]
    plain = (exact and len(raw) == start + length  # and nothing pipelined behind it
             and request_line.endswith(b"1.1") and start <= PLAIN_HEAD_BYTES and len(keys) <= PLAIN_FIELDS
             and len(set(keys)) == len(keys) and _PLAIN_TARGET.fullmatch(target) is not None
             and _PLAIN_LINES.fullmatch(raw, len(request_line), head_end) is not None)
    return Posted(target, fields, content_type, body, plain)


def row_count(rows: Any) -> int | None:
    """Rows of a converted input (ndarray or DataFrame), None when it has no row axis."""
    shape = getattr(rows, "shape", None)
    if not shape:  # None, or a 0-d array
        return None
    return int(shape[0])


def concat_rows(parts: list[Any]) -> Any:
    """The inputs of a group as one input, rows in order."""
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=0)
    import pandas as pd
    return pd.concat(parts, ignore_index=True)


def _slices(value: Any, sizes: list[int], total: int) -> list[Any] | None:
    if isinstance(value, (list, np.ndarray)) and len(value) == total:
        out, at = [], 0
        for size in sizes:
            out.append(value[at:at + size])
            at += size
        return out
    return None


def split_result(result: Any, sizes: list[int]) -> list[Any] | None:
    """run()'s answer for the concatenated rows, cut into each request's answer: a list or array
    as long as the input, or a dict of such; None for anything else (not row-wise)."""
    total = sum(sizes)
    if isinstance(result, dict) and result:
        columns = {key: _slices(value, sizes, total) for key, value in result.items()}
        if any(parts is None for parts in columns.values()):
            return None
        return [{key: parts[i] for key, parts in columns.items()} for i in range(len(sizes))]
    return _slices(result, sizes, total)


class _Group:
    """Requests that agree on every parameter but the batched one."""

    __slots__ = ("arguments", "bodies", "inputs", "rows", "started")

    def __init__(self, arguments: dict[str, Any], started: float) -> None:
        self.arguments, self.started = arguments, started
        self.bodies: list[bytes] = []
        self.inputs: list[Any] = []
        self.rows = 0


class Batcher:
    """Precomputes the answers of one pass's batchable requests; `take` hands them out."""

    def __init__(self, script: EntryScript, input_name: str, max_rows: int, max_latency_ms: int,
                 timeout_ms: int, max_body: int, observe: Callable[[int], None],
                 admits: Callable[[str | None], bool] = lambda authorization: True) -> None:
        self.script, self.input_name, self.admits = script, input_name, admits
        self.max_rows, self.max_latency_s = max_rows, max_latency_ms / 1000
        self.timeout_ms, self.max_body, self.observe = timeout_ms, max_body, observe
        self.done: dict[bytes, tuple[Any, float]] = {}
        self.posted: dict[bytes, Posted] = {}  # the pass's raw requests staged, as parsed

    @classmethod
    def for_script(cls, script: EntryScript, settings: Any, observe: Callable[[int], None],
                   admits: Callable[[str | None], bool] = lambda authorization: True) -> "Batcher | None":
        """A batcher when the script opts in and batching is on; None (and why, logged) if not."""
        name = script.marker(INPUT_MARKER)
        if name is None or settings.max_batch_rows <= 1:
            return None
        why = _refusal(script, name)
        if why:
            logger.warning("Batching off: %s = %r, but %s", INPUT_MARKER, name, why)
            return None
        logger.info("Batching on: rows of %r from concurrent requests in one run() call "
                    "(at most %d rows, %d ms gathering)", name, settings.max_batch_rows,
                    settings.max_latency_ms)
        return cls(script, name, settings.max_batch_rows, settings.max_latency_ms,
                   settings.scoring_timeout_ms, settings.max_request_bytes, observe, admits)

    # -- one pass ---------------------------------------------------------------------------

    def gather(self, raws: list[bytes]) -> None:
        """Score the batchable requests among a pass's raw requests, a group per run() call."""
        groups: dict[Any, _Group] = {}
        for raw in raws:
            staged = self._stage(raw)
            if staged is None:
                continue
            body, key, arguments, rows, count = staged
            group = groups.get(key)
            if group is not None and group.rows + count > self.max_rows:
                self._run(groups.pop(key))
                group = None
            if group is None:
                group = groups[key] = _Group(arguments, time.perf_counter())
            group.bodies.append(body)
            group.inputs.append(rows)
            group.rows += count
            if group.rows >= self.max_rows or time.perf_counter() - group.started >= self.max_latency_s:
                self._run(groups.pop(key))
        for group in groups.values():
            self._run(group)

    def take(self, request: ScoreRequest) -> tuple[Any, float] | None:
        """The answer gathered for this request's body in this pass, if any: (result, run ms)."""
        if not self.done or request.method != "POST" or not is_json(request.content_type):
            return None
        return self.done.get(request.body)

    def environ(self, raw: bytes) -> dict[str, Any] | None:
        """The WSGI environ of a raw request whose answer this pass holds, built from the head
        parsed when it was staged, so that the worker can serve it without gunicorn's parser;
        None when its answer is not here or its head is not plain (gunicorn parses it then)."""
        posted = self.posted.get(raw)
        if posted is None or not posted.plain or self.done.get(posted.body) is None:
            return None
        path, _, query = posted.target.decode("ascii").partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": posted.content_type,
            "CONTENT_LENGTH": str(len(posted.body)), "wsgi.input": io.BytesIO(posted.body)}
        for name, value in posted.fields:
            key = name.decode("ascii").upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ["HTTP_" + key] = value.decode("ascii")
        return environ

    def clear(self) -> None:
        """Forget the pass's answers (called when the pass is over)."""
        self.done.clear()
        self.posted.clear()

    def _stage(self, raw: bytes) -> tuple[bytes, Any, dict[str, Any], Any, int] | None:
        posted = parse_post(raw, self.max_body)
        if posted is None:
            return None
        body, content_type = posted.body, posted.content_type
        if not body or not is_json(content_type) or not self.admits(_authorization(posted)):
            return None  # served alone: the app answers it (a 401 without scoring its rows)
        self.posted[raw] = posted
        try:
            arguments = decorated_arguments(self.script, ScoreRequest("POST", body, content_type))
        except ScoringError:
            return None  # its own 400, when its turn comes
        rows = arguments.pop(self.input_name)
        count = row_count(rows)
        if not count or count > self.max_rows or not self._allowed(arguments):
            return None
        try:
            key = (tuple(sorted(arguments.items())), _row_kind(rows))
            hash(key)
        except TypeError:  # an unhashable parameter value: served alone
            return None
        # Until its batch has run. Identical bodies are staged as rows of their own (each is
        # scored, as alone) and share one entry: a row's answer does not depend on its neighbours.
        self.done.setdefault(body, None)  # type: ignore[arg-type]
        return body, key, arguments, rows, count

    def _allowed(self, arguments: dict[str, Any]) -> bool:
        only: Mapping[str, Any] | None = self.script.marker(ONLY_MARKER)
        if not only:
            return True
        return all(arguments.get(name) in allowed for name, allowed in only.items())

    def _run(self, group: _Group) -> None:
        """One run() call for the group; its slices go to `done`. A lone request, a failing call
        or an answer that is not row by row leaves its requests to run alone."""
        bodies = group.bodies
        try:
            if len(bodies) < 2:
                return
            sizes = [row_count(rows) or 0 for rows in group.inputs]
            arguments = {**group.arguments, self.input_name: concat_rows(group.inputs)}
            try:
                result, elapsed_ms = self.script.invoke_run(arguments, dict, self.timeout_ms)
            except ScoringError as err:
                logger.info("A batch of %d requests failed (%s); each runs alone", len(bodies),
                            err.message)
                return
            parts = split_result(result, sizes)
            if parts is None:
                logger.warning("run() answered a batch with something not row by row (%s); each "
                               "request runs alone", type(result).__name__)
                return
            self.observe(len(bodies))
            for body, part in zip(bodies, parts):
                self.done[body] = (part, elapsed_ms)
        except (ValueError, TypeError) as err:  # rows that do not concatenate
            logger.info("A batch of %d requests could not be assembled (%s); each runs alone",
                        len(bodies), err)
        finally:
            for body in bodies:
                if self.done.get(body) is None:
                    self.done.pop(body, None)


def _authorization(posted: Posted) -> str | None:
    """The request's Authorization header as parse_post read it (the app checks it again)."""
    for name, value in posted.fields:
        if name.lower() == b"authorization":
            return value.decode("latin-1")
    return None


def _row_kind(rows: Any) -> Any:
    """What rows must share to be concatenated: dtype and trailing shape, or DataFrame columns."""
    if isinstance(rows, np.ndarray):
        return rows.dtype.str, rows.shape[1:]
    return tuple(map(str, rows.columns)), tuple(map(str, rows.dtypes))


def _refusal(script: EntryScript, name: str) -> str | None:
    """Why the script cannot be batched on parameter `name`, or None."""
    if script.raw or not script.decorated:
        return "run() is not decorated with @input_schema"
    if script.wants_headers:
        return "run() takes request_headers (each request's own)"
    convert = script.converters.get(name)
    param_type = getattr(convert, "param_type", None)
    if param_type is None:
        return f"run() has no converted input {name!r}"
    kind = getattr(param_type, "sample_data_type", None)
    if kind is not np.ndarray and getattr(kind, "__name__", "") != "DataFrame":
        return f"{name!r} is not a NumpyParameterType or PandasParameterType input"
    return None
