"""Database outages this process saw, counted by the part of it that saw them.

The database cannot record its own outages, so these counts are process-local: the API
(a 503), the in-process workers (a retry after back-off, a failed heartbeat) and the
metrics scrape each count here, and ``GET /metrics`` shows the counts as
``brahmi_database_errors_total{component}`` (:mod:`brahmi.metrics`). Plain integers behind
a lock, so the worker's start-up does not pay for the metrics client library.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_counts: dict[str, int] = {}


def count(component: str) -> None:
    """Count one database operation of ``component`` (``api``, ``worker``, ``metrics``)
    that failed because the database was unavailable."""
    with _lock:
        _counts[component] = _counts.get(component, 0) + 1


def counts() -> dict[str, int]:
    """The counts so far, by component (a copy)."""
    with _lock:
        return dict(_counts)
