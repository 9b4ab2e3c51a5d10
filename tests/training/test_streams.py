"""Reading the events file while a run writes it: partial lines wait, junk is dropped."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.streams import EventTail, is_valid_event


def test_tail_reads_only_complete_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.read_new() == []  # no file yet
    first = {"type": "metric", "name": "a", "kind": "scalar", "value": 1}
    second = {"type": "tags", "tags": {"k": "v"}}
    line = json.dumps(second)
    path.write_text(json.dumps(first) + "\n" + line[:10])
    assert tail.read_new() == [first]
    assert tail.read_new() == []  # the half-written line waits
    with path.open("a") as handle:
        handle.write(line[10:] + "\nnot json\n[1, 2]\n")
    assert tail.read_new() == [second]
    assert tail.events == [first, second]


@pytest.mark.parametrize("event, valid", [
    ({"type": "metric", "name": "a", "kind": "scalar", "value": None}, True),
    ({"type": "metric", "name": "a", "kind": "list", "value": [1]}, True),
    ({"type": "metric", "name": "a", "kind": "row", "value": {"x": 1}}, True),
    ({"type": "metric", "name": "", "kind": "scalar", "value": 1}, False),
    ({"type": "metric", "kind": "scalar", "value": 1}, False),
    ({"type": "metric", "name": "a", "kind": "image", "value": 1}, False),
    ({"type": "metric", "name": "a", "kind": "image", "value": "aml://artifactId/x"}, True),
    ({"type": "metric", "name": "a", "kind": "table", "value": [1]}, False),
    ({"type": "metric", "name": "a", "kind": "list", "value": 1}, False),
    ({"type": "tags", "tags": {}, "removed": ["k"]}, True),
    ({"type": "tags", "tags": "k"}, False),
    ({"type": "properties", "properties": {"a": "b"}}, True),
    ({"type": "file", "name": "outputs/x", "size": 3}, True),
    ({"type": "file", "name": "outputs/x"}, False),
    ({"type": "status", "status": "Completed", "error": None}, True),
    ({"type": "status", "status": "Running"}, False),
    ({"type": "other"}, False),
    ("string", False),
], ids=lambda v: str(v) if isinstance(v, bool) else "")
def test_event_validation(event: object, valid: bool) -> None:
    assert is_valid_event(event) is valid
