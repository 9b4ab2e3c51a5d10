"""Why a run failed, read from the end of its log: the exception line of the last traceback.

Standard library only. The run context records the exception itself when a script raises
(bootstrap.py); this is the fallback for processes that die without saying (an interpreter that
cannot start, a crash in an extension, a remote job whose records did not arrive), and what a
compute target's launcher uses on the log it streams.
"""
from __future__ import annotations

import re
from typing import Iterable

TRACEBACK = "Traceback (most recent call last):"
# `ValueError: bad`, `pkg.mod.Error: x`, `KeyError: 'k'`, or a bare `StopIteration`.
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(: .*)?$")


def exception_line(lines: Iterable[str]) -> str | None:
    """The exception line ending the last traceback in `lines`, or None if there is none."""
    lines = [line.rstrip("\n") for line in lines]
    starts = [i for i, line in enumerate(lines) if line.strip() == TRACEBACK]
    if not starts:
        return None
    for line in lines[starts[-1] + 1:]:
        if line and not line[0].isspace() and EXCEPTION_LINE.match(line):
            candidate = line.strip()
            if candidate != TRACEBACK:
                return candidate
    return None


def reason(lines: Iterable[str], exit_code: int | None) -> str:
    """The run's failure reason: the exception line, else the last non-empty line, else what the
    exit code says."""
    lines = list(lines)
    found = exception_line(lines)
    if found:
        return found
    for line in reversed(lines):
        if line.strip():
            return line.strip()
    if exit_code is not None and exit_code < 0:
        import signal
        try:
            return f"Process was killed by signal {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"Process was killed by signal {-exit_code}"
    return f"Process exited with code {exit_code}"
