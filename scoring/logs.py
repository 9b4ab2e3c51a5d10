"""The scoring server's log: Azure's line format on stdout, and INFO lines held until a response is out.

Only the standard library here: the server (master) and the keepalive worker both use it.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time
from typing import Callable

# The one logger every scoring module writes to.
logger = logging.getLogger("amlocal.scoring")

LOG_FORMAT = "%(asctime)s %(levelname).1s [%(process)d] %(name)s - %(message)s"


def configure_logging() -> None:
    """Azure's log line format, UTC, to stdout."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(LOG_FORMAT)
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger.handlers[:] = [handler]
    logger.setLevel(os.environ.get("AZUREML_LOG_LEVEL", "INFO").upper())
    logger.propagate = False


def hold_info_lines(capacity: int = 512) -> Callable[[], None]:
    """Keep the scoring log's INFO lines in memory until the returned flush() is called.

    The keepalive worker flushes before it waits for the network, so the per-request line is
    written after the response has gone out, not while the client waits. A warning or an error
    is written at once, after the lines held before it; so is a full buffer.
    """
    if not logger.handlers:
        return lambda: None
    memory = logging.handlers.MemoryHandler(capacity, flushLevel=logging.WARNING, target=logger.handlers[0])
    logger.handlers[:] = [memory]
    return memory.flush
