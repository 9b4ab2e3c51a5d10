"""Prometheus metrics in multiprocess mode: every gunicorn worker writes, /metrics sums them."""
from __future__ import annotations

import os

BATCH_BUCKETS = (2, 4, 8, 16, 32, 64, 128, 256)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters of one worker process (prometheus-client reads PROMETHEUS_MULTIPROC_DIR when imported)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram
        # registry=None: in multiprocess mode /metrics reads the files, not an in-process registry.
        self.requests = Counter("amlocal_scoring_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=None)
        self.run_seconds = Histogram("amlocal_scoring_run_seconds", "Duration of the user's run() calls",
                                     buckets=LATENCY_BUCKETS, registry=None)
        self.batch_requests = Histogram("amlocal_scoring_batch_requests",
                                        "Requests scored together in one batched run() call",
                                        buckets=BATCH_BUCKETS, registry=None)
        self._children: dict[tuple[str, str, int], object] = {}

    def count(self, route: str, method: str, status: int) -> None:
        """Count one answered request (label children cached: labels() costs a few µs)."""
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(route, method, str(status))
        child.inc()  # type: ignore[attr-defined]

    def observe_batch(self, requests: int) -> None:
        """Record one batched run() call and how many requests it answered."""
        self.batch_requests.observe(requests)

    def observe_run(self, milliseconds: float) -> None:
        """Record one run() duration."""
        self.run_seconds.observe(milliseconds / 1000)


def render() -> tuple[bytes, str]:
    """Prometheus text for all workers, live and dead (body, content type)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_dead(pid: int) -> None:
    """Forget a dead worker's live gauges (counters and histograms stay summed)."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(pid)
