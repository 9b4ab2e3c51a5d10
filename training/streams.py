"""What the executor reads while a run goes: the script's output pipes and its events file."""
from __future__ import annotations

import collections
import errno
import json
import threading
from pathlib import Path
from typing import IO, Any

from training.beneath import open_regular

STDERR_TAIL_LINES = 20
_CHUNK = 65536


class OutputPump:
    """Copies stdout and stderr into one log file as data arrives; keeps stderr's last lines.

    Each pipe has its own thread; writes go through one lock, unbuffered, so a reader following
    the log sees output as the script produces it. What cannot be written (a full disk) is
    counted and dropped while the pipes go on being read, so the script never blocks on them.
    """

    def __init__(self, log_path: Path, tail_lines: int = STDERR_TAIL_LINES):
        self.log_path = log_path
        self.write_error: OSError | None = None  # the first write that failed
        self.lost_bytes = 0
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log: IO[bytes] | None = open(log_path, "ab", buffering=0)
        except OSError as err:
            self._log, self.write_error = None, err
        self._lock = threading.Lock()
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._partial = b""
        self._threads: list[threading.Thread] = []

    def start(self, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        """Start one reader thread per pipe."""
        for pipe, is_err in ((stdout, False), (stderr, True)):
            thread = threading.Thread(target=self._pump, args=(pipe, is_err), daemon=True,
                                      name=f"amlocal-pump-{'err' if is_err else 'out'}")
            thread.start()
            self._threads.append(thread)

    def _pump(self, pipe: IO[bytes], is_err: bool) -> None:
        """Copy one pipe until it closes."""
        with pipe:
            while True:
                chunk = pipe.read1(_CHUNK) if hasattr(pipe, "read1") else pipe.read(_CHUNK)
                if not chunk:
                    break
                with self._lock:
                    self._write(chunk)
                    if is_err:
                        self._remember(chunk)

    def _write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view and self._log is not None:
            try:
                view = view[self._log.write(view) or 0:]
            except OSError as err:  # a full disk: keep going, count what is lost
                self.write_error = self.write_error or err
                break
        self.lost_bytes += len(view)

    def lost_output(self) -> str | None:
        """Why and how much of the output the log lacks (None if it has it all)."""
        if self.write_error is None:
            return None
        full = self.write_error.errno in (errno.ENOSPC, errno.EDQUOT)
        why = "no space left on device" if full else (self.write_error.strerror or str(self.write_error))
        return f"{why}: {self.lost_bytes} bytes of the run's output could not be written to its log"

    def _remember(self, chunk: bytes) -> None:
        """Keep complete stderr lines for the error's tail."""
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        self._tail.extend(line.decode("utf-8", "replace").rstrip("\r") for line in lines)

    def close(self, timeout: float = 5.0) -> None:
        """Wait for the pipes to drain (bounded, in case an escaped process holds one open)."""
        for thread in self._threads:
            thread.join(timeout)
        with self._lock:
            if self._partial:
                self._tail.append(self._partial.decode("utf-8", "replace"))
                self._partial = b""
            if self._log is not None:
                self._log.close()

    @property
    def stderr_tail(self) -> list[str]:
        """The last stderr lines, oldest first."""
        with self._lock:
            return list(self._tail)


METRIC_KINDS = ("scalar", "list", "row", "table", "image")
FINAL_STATUSES = ("Completed", "Failed", "Canceled")


def is_valid_event(event: Any) -> bool:
    """Whether a line from the events file has the shape the run context writes.

    The file sits in the script's reach; a line that is not ours is dropped rather than handed
    to the agent.
    """
    if not isinstance(event, dict):
        return False
    kind = event.get("type")
    if kind == "metric":
        return (isinstance(event.get("name"), str) and bool(event["name"])
                and event.get("kind") in METRIC_KINDS
                and (event["kind"] not in ("row", "table") or isinstance(event.get("value"), dict))
                and (event["kind"] != "list" or isinstance(event.get("value"), list))
                and (event["kind"] != "image" or isinstance(event.get("value"), str)))
    if kind == "tags":
        return isinstance(event.get("tags"), dict) and isinstance(event.get("removed", []), list)
    if kind == "properties":
        return isinstance(event.get("properties"), dict)
    if kind == "file":
        return isinstance(event.get("name"), str) and isinstance(event.get("size"), int)
    if kind == "status":
        return event.get("status") in FINAL_STATUSES
    return False


class EventTail:
    """Reads complete new JSON lines from the run's events file, from where it left off.

    With `root` (the run's folder) the file is opened beneath it without following links and
    only if it is a regular file: the script may replace it with a link or a FIFO."""

    def __init__(self, path: Path, root: Path | None = None):
        self.path = path
        self.root = root
        self._offset = 0
        self.events: list[dict[str, Any]] = []

    def _open(self) -> IO[bytes]:
        if self.root is None:
            return self.path.open("rb")
        return open_regular(self.root, self.path.relative_to(self.root).as_posix())

    def read_new(self) -> list[dict[str, Any]]:
        """Events appended since the last call (a half-written last line waits for next time)."""
        try:
            with self._open() as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        new = []
        for line in data[:end].splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a script writing junk into the file must not stop the run
            if is_valid_event(event):
                new.append(event)
        self.events.extend(new)
        return new
