"""Test helpers for the executor: snapshots from dicts, hooks that record what they see."""
from __future__ import annotations

import os
import textwrap
import threading
from pathlib import Path
from typing import Any, Callable

from training.executor import RunHooks, RunSpec
from training.snapshot import pack


def make_snapshot(tmp_path: Path, files: dict[str, str], name: str = "src") -> Path:
    """Pack {relative path: source text} into a snapshot under tmp_path."""
    src = tmp_path / name
    for rel, text in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return pack(src, tmp_path / f"{name}.tar.gz").path


def make_spec(tmp_path: Path, files: dict[str, str], script: str = "train.py",
              **fields: Any) -> RunSpec:
    """A RunSpec for a snapshot of `files`, its run folder under tmp_path/runs."""
    run_id = fields.pop("run_id", "exp_1_test")
    return RunSpec(run_id=run_id, experiment="exp", run_dir=tmp_path / "runs" / run_id,
                   snapshot=make_snapshot(tmp_path, files), script=script, **fields)


class RecordingHooks(RunHooks):
    """Records states, the pid and events; cancels when `should_cancel` says so."""

    def __init__(self, should_cancel: Callable[["RecordingHooks"], bool] | None = None,
                 on_event: Callable[["RecordingHooks", dict], None] | None = None):
        self.states: list[str] = []
        self.pid: int | None = None
        self.events: list[dict] = []
        self.cancel_at: float | None = None
        self._should_cancel = should_cancel
        self._on_event = on_event
        self.lock = threading.Lock()

    def on_state(self, state: str) -> None:
        self.states.append(state)

    def on_process(self, pid: int) -> None:
        self.pid = pid

    def on_events(self, events: list[dict]) -> None:
        for event in events:
            self.events.append(event)
            if self._on_event is not None:
                self._on_event(self, event)

    def cancel_requested(self) -> bool:
        if self._should_cancel is not None and self._should_cancel(self):
            if self.cancel_at is None:
                import time
                self.cancel_at = time.monotonic()
            return True
        return False

    def metric_names(self) -> list[str]:
        """Names of the metric events seen so far."""
        return [e["name"] for e in self.events if e.get("type") == "metric"]


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is pgid, read from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            members.append(int(entry))
    return members
