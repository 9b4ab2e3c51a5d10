"""A failed run's reason read from its log: the exception line of the last traceback."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from training.failure import exception_line, reason


def stderr_of(code: str) -> list[str]:
    """What Python really prints when `code` fails."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    return done.stderr.splitlines()


@pytest.mark.parametrize("code, expected", [
    ("raise ValueError('bad input')", "ValueError: bad input"),
    ("{}['k']", "KeyError: 'k'"),
    ("import json; json.loads('{')", "json.decoder.JSONDecodeError: Expecting property name "
                                      "enclosed in double quotes: line 1 column 2 (char 1)"),
    ("raise StopIteration", "StopIteration"),
    ("import warnings; warnings.warn('noise'); raise RuntimeError('first')\n",
     "RuntimeError: first"),
], ids=["value", "key", "dotted", "bare", "after-warning"])
def test_the_exception_line_python_printed(code, expected):
    assert reason(stderr_of(code), 1) == expected


def test_a_chained_exception_gives_the_last_one():
    lines = stderr_of("try:\n    1/0\nexcept ZeroDivisionError as e:\n    raise OSError('disk') from e")
    assert exception_line(lines) == "OSError: disk"


def test_a_multi_line_message_gives_its_first_line_and_noise_after_is_ignored():
    lines = stderr_of("raise AttributeError('no str.\\nsee https://numpy.org')") + ["atexit noise"]
    assert reason(lines, 1) == "AttributeError: no str."


def test_without_a_traceback():
    assert reason(["", "fatal: cannot continue", ""], 3) == "fatal: cannot continue"
    assert reason([], 3) == "Process exited with code 3"
    assert reason([], -signal.SIGKILL) == "Process was killed by signal SIGKILL"
