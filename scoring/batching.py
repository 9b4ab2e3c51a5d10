"""Adaptive micro-batching: the rows of concurrent requests scored in one run() call.

The keepalive worker reads every ready connection's request whole, then serves them one by one
in one pass of its loop. When a pass holds two or more requests, `Batcher.gather` looks at their
raw bytes first: each `POST /score` JSON body is parsed and converted as its request would be,
requests that agree on every other parameter are grouped, each group's rows are concatenated and
scored in one run() call, and the answer is split back by row counts. The requests are then served
as usual, and `Batcher.take` hands each one its slice instead of calling run() again. So:

- a lone request never waits: nothing is gathered unless the pass already holds others;
- a request that cannot be converted (a 400) joins no batch: it is served alone, as before;
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

import time
from typing import Any, Callable, Mapping

import numpy as np

from .entry import EntryScript
from .errors import ScoringError
from .handling import ScoreRequest, decorated_arguments, is_json
from .logs import logger

INPUT_MARKER = "AMLOCAL_BATCH_INPUT"
ONLY_MARKER = "AMLOCAL_BATCH_ONLY"
HEAD_END = b"\r\n\r\n"


def parse_score_post(raw: bytes, max_body: int) -> tuple[str, bytes] | None:
    """(content type, body) of a whole `POST /score` request with a Content-Length; None for
    anything else (those are served without batching, so being strict here costs nothing)."""
    head_end = raw.find(HEAD_END)
    if head_end < 0:
        return None
    lines = raw[:head_end].split(b"\r\n")
    request_line = lines[0]
    if not request_line.startswith((b"POST /score ", b"POST /score?")) or not request_line.endswith(
            (b" HTTP/1.1", b" HTTP/1.0")):
        return None
    content_type, length = "", None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            value = value.strip()
            if length is not None or not value.isdigit():
                return None
            length = int(value)
        elif key == b"content-type":
            content_type = value.strip().decode("latin-1")
        elif key == b"transfer-encoding":
            return None
    if length is None or length > max_body:
        return None
    start = head_end + len(HEAD_END)
    body = raw[start:start + length]
    return (content_type, body) if len(body) == length else None


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
                 timeout_ms: int, max_body: int, observe: Callable[[int], None]) -> None:
        self.script, self.input_name = script, input_name
        self.max_rows, self.max_latency_s = max_rows, max_latency_ms / 1000
        self.timeout_ms, self.max_body, self.observe = timeout_ms, max_body, observe
        self.done: dict[bytes, tuple[Any, float]] = {}

    @classmethod
    def for_script(cls, script: EntryScript, settings: Any, observe: Callable[[int], None]
                   ) -> "Batcher | None":
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
                   settings.scoring_timeout_ms, settings.max_request_bytes, observe)

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

    def clear(self) -> None:
        """Forget the pass's answers (called when the pass is over)."""
        self.done.clear()

    def _stage(self, raw: bytes) -> tuple[bytes, Any, dict[str, Any], Any, int] | None:
        parsed = parse_score_post(raw, self.max_body)
        if parsed is None:
            return None
        content_type, body = parsed
        if not body or not is_json(content_type):
            return None
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
